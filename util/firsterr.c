#include "util/firsterr.h"
#include "util/error.h"

#include <stdio.h>

void arca_firsterr_init(arca_firsterr *fe)
{
	pthread_mutex_init(&fe->mu, NULL);
	atomic_init(&fe->code, 0);
	fe->msg[0] = '\0';
}

int arca_firsterr_set(arca_firsterr *fe, int rc)
{
	if (!rc)
		return 0;
	pthread_mutex_lock(&fe->mu);
	if (!atomic_load(&fe->code)) {
		snprintf(fe->msg, sizeof(fe->msg), "%s", arca_error_last());
		atomic_store(&fe->code, rc);
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

int arca_firsterr_code(arca_firsterr *fe)
{
	return atomic_load(&fe->code);
}

int arca_firsterr_raise(arca_firsterr *fe)
{
	int rc;
	pthread_mutex_lock(&fe->mu);
	rc = atomic_load(&fe->code);
	if (rc)
		arca_err_set(rc, "%s", fe->msg);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

void arca_firsterr_release(arca_firsterr *fe)
{
	pthread_mutex_destroy(&fe->mu);
}
