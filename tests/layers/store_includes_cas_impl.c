/* Must not compile: struct arca_cas and cas's helpers are private to cas/. */
#include "cas/cas_impl.h"
int arca_probe_store_private;
