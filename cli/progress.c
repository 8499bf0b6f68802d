/* ^C during a long command: the first SIGINT or SIGTERM sets a flag that
 * the progress callback returns, so the library cancels cleanly
 * (ARCA_EUSER); before the operation has started, and on a second signal,
 * the default action applies. A signal ignored when arca started (a
 * background job of a script) stays ignored. Also the --progress line on
 * stderr. */
#include "cli.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t started;
static const int signals[] = { SIGINT, SIGTERM };
static struct sigaction saved[2];
static int installed[2];

static void on_signal(int sig)
{
	if (!started || interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = sig;
}

void cli_progress_begin(cli_progress *cp, const char *cmd, int show)
{
	struct sigaction sa;
	memset(cp, 0, sizeof(*cp));
	cp->cmd = cmd;
	/* a live line only for a person watching: stderr a terminal */
	cp->show = show == CLI_PROGRESS_AUTO ? (isatty(2) && !cli_quiet ? CLI_PROGRESS_LINE :
		CLI_PROGRESS_NONE) : show;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 2; i++) {
		installed[i] = sigaction(signals[i], NULL, &saved[i]) == 0 &&
			saved[i].sa_handler != SIG_IGN &&
			sigaction(signals[i], &sa, NULL) == 0;
	}
}

void cli_progress_end(cli_progress *cp)
{
	if (cp->line_open)
		fputc('\n', stderr);
	cp->line_open = 0;
	for (int i = 0; i < 2; i++)
		if (installed[i])
			sigaction(signals[i], &saved[i], NULL);
	installed[0] = installed[1] = 0;
	started = 0;
}

int cli_interrupted(void)
{
	return interrupted != 0;
}

int cli_progress_arg(const char *cmd, const char *arg, int *show)
{
	if (!arg || !strcmp(arg, "line"))
		*show = CLI_PROGRESS_LINE;
	else if (!strcmp(arg, "json"))
		*show = CLI_PROGRESS_JSON;
	else if (!strcmp(arg, "none"))
		*show = CLI_PROGRESS_NONE;
	else
		return cli_usage_error(cmd, "--progress takes line, json or none, not '%s'", arg);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_json(cli_progress *cp, const arca_progress *p, double el)
{
	json_w j;
	json_init(&j, stderr);
	json_obj_begin(&j, NULL);
	json_str(&j, "command", cp->cmd);
	json_str(&j, "phase", p->phase_name);
	json_u64(&j, "items_done", p->items_done);
	json_u64(&j, "items_total", p->items_total);
	json_u64(&j, "bytes_done", p->bytes_done);
	json_u64(&j, "bytes_total", p->bytes_total);
	if (p->version >= 2 && p->phase == ARCA_PROGRESS_CHUNK)
		json_u64(&j, "bytes_known", p->bytes_known);
	json_num(&j, "elapsed_s", el);
	json_bool(&j, "phase_end", p->phase_end);
	json_obj_end(&j); /* ends the line */
	fflush(stderr);
}

/* "snapshot chunk: 120/6768, 1.2 GiB/2.0 GiB, 410 MiB/s, ETA 2s" */
static void progress_line(cli_progress *cp, const arca_progress *p, double el)
{
	char b[32], t[32];
	cli_human_size(b, sizeof(b), p->bytes_done);
	fprintf(stderr, "\r%s %s:", cp->cmd, p->phase_name);
	if (p->items_done || p->items_total || !p->bytes_total)
		fprintf(stderr, " %llu", (unsigned long long)p->items_done);
	if (p->items_total)
		fprintf(stderr, "/%llu", (unsigned long long)p->items_total);
	if (p->bytes_done || p->bytes_total) {
		fprintf(stderr, "%s %s", p->items_done || p->items_total ? "," : "", b);
		if (p->bytes_total) {
			cli_human_size(t, sizeof(t), p->bytes_total);
			fprintf(stderr, "/%s", t);
		}
		if (el > 0.2 && p->bytes_done) {
			double rate = p->bytes_done / el;
			cli_human_size(t, sizeof(t), (uint64_t)rate);
			fprintf(stderr, ", %s/s", t);
			if (p->bytes_total > p->bytes_done && !p->phase_end)
				fprintf(stderr, ", ETA %.0fs", (p->bytes_total - p->bytes_done) / rate);
		}
	}
	/* a snapshot: the share of its content the store already had */
	if (p->version >= 2 && p->phase == ARCA_PROGRESS_CHUNK && p->bytes_known && p->bytes_done)
		fprintf(stderr, ", %.0f%% already stored",
			100.0 * (double)p->bytes_known / (double)p->bytes_done);
	fputs("\033[K", stderr);
	cp->line_open = !p->phase_end;
	if (p->phase_end)
		fputc('\n', stderr);
}

int cli_progress_cb(const arca_progress *p, void *payload)
{
	cli_progress *cp = payload;
	double t = now_s();
	started = 1;
	if (interrupted)
		return 1;
	if (cp->phase != (int)p->phase) { /* 0 before the first call: no phase is */
		cp->phase = (int)p->phase;
		cp->t0 = t;
		cp->last = 0;
	}
	/* at most 10 lines a second, and always a phase's first and last */
	if (cp->show == CLI_PROGRESS_NONE || (cp->last && t - cp->last < 0.1 && !p->phase_end))
		return 0;
	cp->last = t;
	if (cp->show == CLI_PROGRESS_JSON)
		progress_json(cp, p, t - cp->t0);
	else
		progress_line(cp, p, t - cp->t0);
	return 0;
}

int cli_fail_interrupted(cli_progress *cp, const char *what)
{
	cli_progress_end(cp);
	fprintf(stderr, "arca %s: interrupted; %s\n", cp->cmd, what);
	return EXIT_INTERRUPTED;
}
