#include "util/fault.h"

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_int armed;
static atomic_uint passed;
static unsigned target;
static int inject;
static const char *_Atomic fired;
static const char **trace;
static unsigned trace_cap;

int arca_fault_check(const char *point)
{
	unsigned n;
	if (!atomic_load_explicit(&armed, memory_order_acquire))
		return 0;
	n = atomic_fetch_add(&passed, 1) + 1;
	if (trace && n <= trace_cap)
		trace[n - 1] = point;
	if (n != target)
		return 0;
	atomic_store(&fired, point);
	if (inject == ARCA_FAULT_KILL)
		raise(SIGKILL);
	return inject;
}

void arca_fault_arm(unsigned nth, int err)
{
	atomic_store(&armed, 0);
	target = nth;
	inject = err;
	atomic_store(&fired, NULL);
	atomic_store(&passed, 0);
	atomic_store_explicit(&armed, 1, memory_order_release);
}

void arca_fault_disarm(void)
{
	atomic_store(&armed, 0);
}

unsigned arca_fault_count(void)
{
	return atomic_load(&passed);
}

const char *arca_fault_fired(void)
{
	return atomic_load(&fired);
}

void arca_fault_trace(const char **names, unsigned cap)
{
	trace = names;
	trace_cap = names ? cap : 0;
}
