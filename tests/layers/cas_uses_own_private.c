/* Control: a cas source may include cas headers and util's. */
#include "cas/cas.h"
#include "util/buf.h"
int arca_probe_cas_ok;
