/* The smolvm env backend: libkrun microVMs through the smolvm CLI. */
#ifndef ARCA_ENV_SMOLVM_H
#define ARCA_ENV_SMOLVM_H

#include "arca/env.h"

/** A new smolvm backend in *out (free with its `free`). Settings:
 *  smolvm-bin, image, cpus, mem, net=0|1, volume=HOST:GUEST[:ro]
 *  (repeatable), path (the tree's place in the guest, default /arca),
 *  disk=overlay|storage (the disk an image artifact is, default
 *  overlay). */
int arca_env__smolvm_new(arca_env_backend **out);

#endif
