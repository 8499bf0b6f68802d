/*
 * The first error of a group of threads, handed to the thread that
 * reports it: its code and its thread-local message (arca_error_last()
 * holds only the failing thread's). Later errors are dropped; they are
 * mostly echoes of the first (a worker stopping because another failed).
 */
#ifndef ARCA_UTIL_FIRSTERR_H
#define ARCA_UTIL_FIRSTERR_H

#include <pthread.h>
#include <stdatomic.h>

#define ARCA_FIRSTERR_MSG_MAX 1024

typedef struct {
	pthread_mutex_t mu;                /* guards msg */
	atomic_int code;                   /* 0 until the first error */
	char msg[ARCA_FIRSTERR_MSG_MAX];
} arca_firsterr;

/** No error yet. */
void arca_firsterr_init(arca_firsterr *fe);
/** Records `rc` and this thread's arca_error_last() unless an error is
 *  recorded already (0 is ignored); returns `rc`. Any thread. */
int arca_firsterr_set(arca_firsterr *fe, int rc);
/** The recorded code, 0 when none. Any thread, any lock held. */
int arca_firsterr_code(arca_firsterr *fe);
/** Raises the recorded error on this thread (code and message) and
 *  returns its code; 0, the thread's message untouched, when none. */
int arca_firsterr_raise(arca_firsterr *fe);
/** Frees what init took; code stays readable. */
void arca_firsterr_release(arca_firsterr *fe);

#endif
