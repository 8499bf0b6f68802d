/* Control: the CLI may include the public API. */
#include "arca/arca.h"
#include "arca/version.h"
int arca_probe_cli_ok;
