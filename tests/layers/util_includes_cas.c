/* Must not compile: util/ is the bottom layer. */
#include "cas/cas.h"
int arca_probe_util_up;
