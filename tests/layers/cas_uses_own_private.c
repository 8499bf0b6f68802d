/* Control: a cas source may include its private header and util's. */
#include "cas/cas_impl.h"
#include "util/buf.h"
int arca_probe_cas_ok;
