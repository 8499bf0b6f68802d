/*
 * snapshot_restore: the smallest program over arca's public API. It
 * snapshots SRC into the store STORE as NAME:v1, restores that artifact
 * to DEST and prints its id. Built against an installed arca, by
 * pkg-config or by CMake (examples/CMakeLists.txt).
 *
 *   snapshot_restore STORE SRC DEST
 */
#include <arca/arca.h>

#include <stdio.h>

int main(int argc, char **argv)
{
	arca_store_options so = ARCA_STORE_OPTIONS_INIT;
	arca_snapshot_options sn = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_store *store = NULL;
	arca_id id;
	char hex[ARCA_ID_STRLEN];

	if (argc != 4) {
		fprintf(stderr, "usage: %s STORE SRC DEST\n", argv[0]);
		return 2;
	}
	sn.name = "example";
	sn.tag = "v1";
	if (arca_store_open(&store, argv[1], &so) != 0 ||
	    arca_snapshot(&id, store, argv[2], &sn, NULL) != 0 ||
	    arca_restore(store, "example:v1", argv[3], &ro, NULL) != 0) {
		fprintf(stderr, "snapshot_restore: %s\n", arca_error_last());
		arca_store_free(store);
		return 1;
	}
	arca_id_format(hex, &id);
	printf("%s (arca %s)\n", hex, arca_version());
	arca_store_free(store);
	return 0;
}
