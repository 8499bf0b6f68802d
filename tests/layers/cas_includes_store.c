/* Must not compile: cas/ is below store/. */
#include "store/store.h"
int arca_probe_cas_up;
