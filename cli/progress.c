/* ^C during a long command: the first SIGINT or SIGTERM sets a flag that
 * the progress callback returns, so the library cancels cleanly
 * (ARCA_EUSER); before the operation has started, and on a second signal,
 * the default action applies. A signal ignored when arca started (a
 * background job of a script) stays ignored. Also the --progress line on
 * stderr. */
#include "cli.h"

#include <signal.h>
#include <string.h>

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
	cp->show = show;
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

int cli_progress_cb(const arca_progress *p, void *payload)
{
	cli_progress *cp = payload;
	started = 1;
	if (interrupted)
		return 1;
	if (cp->show) {
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
		}
		fputs("\033[K", stderr);
		cp->line_open = !p->phase_end;
		if (p->phase_end)
			fputc('\n', stderr);
	}
	return 0;
}

int cli_fail_interrupted(cli_progress *cp, const char *what)
{
	cli_progress_end(cp);
	fprintf(stderr, "arca %s: interrupted; %s\n", cp->cmd, what);
	return EXIT_INTERRUPTED;
}
