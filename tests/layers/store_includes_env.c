/* Must not compile: store/ is below env/. */
#include "env/backends.h"
int arca_probe_store_up;
