/* The versions of the libraries arca runs with, each asked where its
 * library is used (sync/versions.c gathers them). NULL: not built in. */
#ifndef ARCA_SYNC_VERSIONS_H
#define ARCA_SYNC_VERSIONS_H

const char *arca_sync__git2_version(void);    /* sync/hub.c, hub_none.c */
const char *arca_sync__curl_version(void);    /* sync/http.c, transport_none.c */
const char *arca_sync__archive_version(void); /* sync/bundle_tar.c, bundle_none.c */

#endif
