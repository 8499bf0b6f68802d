/* Must not compile: the CLI sees include/arca/ only. */
#include "arca/arca.h"
#include "util/buf.h"
int arca_probe_cli_internal;
