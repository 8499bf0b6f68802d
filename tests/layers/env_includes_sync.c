/* Must not compile: env/ and sync/ are side by side above store/. */
#include "sync/sync.h"
int arca_probe_env_sideways;
