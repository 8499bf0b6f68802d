#include "util/progress.h"

#include "arca/remote.h"

#include "util/error.h"

#include <string.h>
#include <time.h>

int64_t arca_progress__interval_ns = 100000000;

static const char *phase_name(arca_progress_phase_t phase)
{
	switch ((int)phase) {
	case ARCA_PROGRESS_CHUNK: return "chunk";
	case ARCA_PROGRESS_WRITE: return "write";
	case ARCA_PROGRESS_MARK: return "mark";
	case ARCA_PROGRESS_SWEEP: return "sweep";
	case ARCA_PROGRESS_REPACK: return "repack";
	case ARCA_PROGRESS_VERIFY: return "verify";
	case ARCA_PROGRESS_CHECK: return "check";
	case ARCA_PROGRESS_UPLOAD: return "upload";
	case ARCA_PROGRESS_DOWNLOAD: return "download";
	}
	return "";
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void arca_progress__init(arca_progress_state *ps, arca_progress_cb cb, void *payload)
{
	memset(ps, 0, sizeof(*ps));
	ps->cb = cb;
	ps->payload = payload;
	ps->p.version = ARCA_PROGRESS_VERSION;
}

int arca_progress__cancelled(const arca_progress_state *ps)
{
	return ps->cancelled ? arca_err_set(ARCA_EUSER, "cancelled by the progress callback") : 0;
}

static int call(arca_progress_state *ps)
{
	if (ps->cancelled)
		return arca_progress__cancelled(ps);
	ps->next_ns = mono_ns() + arca_progress__interval_ns;
	if (ps->cb(&ps->p, ps->payload) != 0) {
		ps->cancelled = 1;
		return arca_progress__cancelled(ps);
	}
	return 0;
}

int arca_progress__begin(arca_progress_state *ps, arca_progress_phase_t phase,
		uint64_t items_total, uint64_t bytes_total)
{
	if (!ps->cb)
		return 0;
	ps->p.phase = phase;
	ps->p.phase_name = phase_name(phase);
	ps->p.items_done = ps->p.bytes_done = ps->p.bytes_known = 0;
	ps->p.items_total = items_total;
	ps->p.bytes_total = bytes_total;
	ps->p.phase_end = 0;
	return call(ps);
}

void arca_progress__known(arca_progress_state *ps, uint64_t bytes_known)
{
	if (bytes_known > ps->p.bytes_known)
		ps->p.bytes_known = bytes_known;
}

void arca_progress__totals(arca_progress_state *ps, uint64_t items_total, uint64_t bytes_total)
{
	if (items_total > ps->p.items_total)
		ps->p.items_total = items_total;
	if (bytes_total > ps->p.bytes_total)
		ps->p.bytes_total = bytes_total;
}

int arca_progress__set(arca_progress_state *ps, uint64_t items_done, uint64_t bytes_done)
{
	if (!ps->cb)
		return 0;
	if (ps->cancelled)
		return arca_progress__cancelled(ps);
	if (ps->p.items_total && items_done > ps->p.items_total)
		items_done = ps->p.items_total;
	if (ps->p.bytes_total && bytes_done > ps->p.bytes_total)
		bytes_done = ps->p.bytes_total;
	if (items_done > ps->p.items_done)
		ps->p.items_done = items_done;
	if (bytes_done > ps->p.bytes_done)
		ps->p.bytes_done = bytes_done;
	if (mono_ns() < ps->next_ns)
		return 0;
	return call(ps);
}

int arca_progress__add(arca_progress_state *ps, uint64_t items, uint64_t bytes)
{
	if (!ps->cb)
		return 0;
	return arca_progress__set(ps, ps->p.items_done + items, ps->p.bytes_done + bytes);
}

int arca_progress__end(arca_progress_state *ps, uint64_t items_done, uint64_t bytes_done)
{
	if (!ps->cb)
		return 0;
	if (items_done > ps->p.items_done)
		ps->p.items_done = items_done;
	if (bytes_done > ps->p.bytes_done)
		ps->p.bytes_done = bytes_done;
	ps->p.items_total = ps->p.items_done;
	ps->p.bytes_total = ps->p.bytes_done;
	ps->p.phase_end = 1;
	return call(ps);
}
