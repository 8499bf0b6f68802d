/*
 * The S3 and static HTTP transports against real servers on loopback:
 * Ceph radosgw (tests/s3_server.sh, started by this test), lighttpd, and
 * tests/flaky_http.py (a proxy or file server that answers 500 when told
 * to). Cross-checked with awscli where it is installed.
 *
 *   test_transport_s3 s3     needs ceph (exit 77 without it)
 *   test_transport_s3 http   lighttpd, python3; URL parsing; no server at all
 */
#include "helpers.h"
#include "sync/http.h"
#include "sync/transport.h"
#include "cas/hash.h"
#include "util/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUCKET "arca-test"
#define MiB (1024u * 1024u)

static char *tmp;
static char srv_dir[4096];
static char endpoint[512], access_key[512], secret_key[512], region[512];
static int s3_port;
static char s3_url[1024];

/* ---- helpers ---- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static const char *python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

typedef struct {
	const uint8_t *p;
	size_t n, pos;
} mem_src;

static int src_read(void *ctx, void *p, size_t cap, size_t *n)
{
	mem_src *s = ctx;
	size_t k = s->n - s->pos;
	if (k > cap)
		k = cap;
	memcpy(p, s->p + s->pos, k);
	s->pos += k;
	*n = k;
	return 0;
}

static int buf_sink(void *ctx, const void *p, size_t n)
{
	return arca_buf_put(ctx, p, n);
}

static int put_mem(arca_transport *t, const char *key, const void *p, size_t n, int create_only)
{
	mem_src s = { p, n, 0 };
	return t->put(t, key, n, src_read, &s, create_only);
}

/* get into `out` (reset first) */
static int get_mem(arca_transport *t, const char *key, uint64_t off, uint64_t len,
		arca_buf *out, uint64_t *size)
{
	out->len = 0;
	return t->get(t, key, off, len, buf_sink, out, size);
}

static arca_transport_config cfg_with(const char *ak, const char *sk)
{
	arca_transport_config c = { ARCA_TRANSPORT_VERSION, region, ak, sk, NULL, 0, 4, 0, 10, 20 };
	return c;
}

static arca_transport *open_s3(const char *url, const char *ak, const char *sk)
{
	arca_transport_config c = cfg_with(ak, sk);
	arca_transport *t = NULL;
	int rc = arca_transport_s3_open(&t, url, &c);
	if (rc)
		fail_msg("s3 open %s: %s", url, arca_error_last());
	return t;
}

static int free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in a = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Servers this test started, stopped at exit even after a failed test. */
static pid_t children[16];

static void children_stop(void)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] > 0) {
			kill(children[i], SIGTERM);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void child_add(pid_t pid)
{
	static int registered;
	if (!registered++)
		atexit(children_stop);
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (!children[i]) {
			children[i] = pid;
			return;
		}
}

/* Starts tests/flaky_http.py MODE ARG; returns its pid, *port its port. */
static pid_t flaky_start(const char *mode, const char *arg, int *port)
{
	char script[4200], line[64];
	int pfd[2];
	pid_t pid;
	FILE *f;
	snprintf(script, sizeof(script), "%s/flaky_http.py", ARCA_TEST_SRC);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execlp(python(), python(), script, mode, arg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	child_add(pid);
	f = fdopen(pfd[0], "r");
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f))
		fail_msg("flaky_http.py did not start");
	fclose(f);
	*port = atoi(line);
	assert_true(*port > 0);
	return pid;
}

static void stop_pid(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
			if (children[i] == pid)
				children[i] = 0;
	}
}

/* A control request to flaky_http.py; returns its answer as a number. */
static long flaky_ctl(int port, const char *path)
{
	char url[256];
	arca_transport *t = NULL;
	arca_buf b = ARCA_BUF_INIT(4096);
	long v;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/__arca/", port);
	assert_int_equal(arca_transport_http_open(&t, url, NULL), 0);
	if (get_mem(t, path, 0, 0, &b, NULL) != 0)
		fail_msg("flaky control %s: %s", path, arca_error_last());
	assert_int_equal(arca_buf_put(&b, "", 1), 0);
	v = atol((const char *)b.ptr);
	arca_buf_release(&b);
	t->free(t);
	return v;
}

/* ---- S3 group ---- */

static void s3_server_stop(void)
{
	if (srv_dir[0]) {
		char cmd[8400];
		snprintf(cmd, sizeof(cmd), "bash '%s/s3_server.sh' stop '%s'", ARCA_TEST_SRC, srv_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "s3_server.sh stop failed\n");
		srv_dir[0] = '\0';
	}
}

/* 0 when radosgw runs, 77 when the packages are missing, else 1. */
static int s3_server_start(void)
{
	char env[8400], line[512];
	FILE *f;
	int rc;
	snprintf(srv_dir, sizeof(srv_dir), "%s/srv", tmp);
	atexit(s3_server_stop);
	snprintf(env, sizeof(env), "bash '%s/s3_server.sh' start '%s' '' " BUCKET " >'%s/start.out'",
		ARCA_TEST_SRC, srv_dir, tmp);
	rc = system(env);
	if (rc != 0) {
		srv_dir[0] = '\0';
		if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
			return 77;
		fprintf(stderr, "s3_server.sh start failed (%d)\n", rc);
		return 1;
	}
	snprintf(env, sizeof(env), "%s/env", srv_dir);
	if (!(f = fopen(env, "r")))
		return 1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "S3_ENDPOINT=", 12)) snprintf(endpoint, sizeof(endpoint), "%s", line + 12);
		if (!strncmp(line, "S3_ACCESS_KEY=", 14)) snprintf(access_key, sizeof(access_key), "%s", line + 14);
		if (!strncmp(line, "S3_SECRET_KEY=", 14)) snprintf(secret_key, sizeof(secret_key), "%s", line + 14);
		if (!strncmp(line, "S3_REGION=", 10)) snprintf(region, sizeof(region), "%s", line + 10);
	}
	fclose(f);
	if (sscanf(endpoint, "http://127.0.0.1:%d", &s3_port) != 1)
		return 1;
	snprintf(s3_url, sizeof(s3_url), "s3://127.0.0.1:%d/" BUCKET "/pre", s3_port);
	return 0;
}

static void s3_put_get_head_remove_round_trip(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	arca_buf b = ARCA_BUF_INIT(64 * MiB);
	uint8_t data[1000];
	uint64_t size = 0, n0;
	(void)state;
	th_fill_random(data, sizeof(data), 1);
	assert_int_equal(t->readonly, 0);
	assert_string_equal(t->url, s3_url);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "packs/a b&c+1.arcp", data, sizeof(data), 0), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/a b&c+1.arcp", 0, 0, &b, &size), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	assert_int_equal(size, sizeof(data));
	assert_int_equal(b.len, sizeof(data));
	assert_memory_equal(b.ptr, data, sizeof(data));

	assert_int_equal(get_mem(t, "packs/a b&c+1.arcp", 10, 20, &b, &size), 0);
	assert_int_equal(b.len, 20);
	assert_memory_equal(b.ptr, data + 10, 20);
	assert_int_equal(size, sizeof(data));

	size = 0;
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->head(t, "packs/a b&c+1.arcp", &size), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	assert_int_equal(size, sizeof(data));

	/* empty objects are objects */
	assert_int_equal(put_mem(t, "empty", "", 0, 0), 0);
	assert_int_equal(get_mem(t, "empty", 0, 0, &b, &size), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(size, 0);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->remove(t, "packs/a b&c+1.arcp"), 0);
	assert_int_equal(t->head(t, "packs/a b&c+1.arcp", &size), ARCA_ENOTFOUND);
	assert_int_equal(get_mem(t, "packs/a b&c+1.arcp", 0, 0, &b, NULL), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "404"));
	assert_int_equal(t->remove(t, "packs/a b&c+1.arcp"), 0);   /* missing: fine */
	/* 404s are answers, not failures: no retry */
	assert_int_equal(arca_http_transport_requests(t) - n0, 4);
	/* one thread, one kept-alive connection for all of it */
	assert_int_equal(arca_http_transport_connects(t), 1);
	arca_buf_release(&b);
	t->free(t);
}

static void s3_20mib_object_and_ranges(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	size_t n = 20 * MiB + 7;
	uint8_t *data = malloc(n);
	arca_buf b = ARCA_BUF_INIT(64 * MiB);
	uint64_t size = 0, n0;
	(void)state;
	th_fill_random(data, n, 2);
	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "packs/big.arcp", data, n, 0), 0);   /* spooled */
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	assert_int_equal(get_mem(t, "packs/big.arcp", 0, 0, &b, &size), 0);
	assert_int_equal(size, n);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.ptr, data, n);

	assert_int_equal(get_mem(t, "packs/big.arcp", 5 * MiB + 3, MiB, &b, &size), 0);
	assert_int_equal(b.len, MiB);
	assert_memory_equal(b.ptr, data + 5 * MiB + 3, MiB);
	/* to the end */
	assert_int_equal(get_mem(t, "packs/big.arcp", n - 100, 0, &b, &size), 0);
	assert_int_equal(b.len, 100);
	assert_memory_equal(b.ptr, data + n - 100, 100);
	/* exactly at the end: nothing, no error */
	if (get_mem(t, "packs/big.arcp", n, 0, &b, &size) != 0)
		fail_msg("at the end: %s", arca_error_last());
	assert_int_equal(b.len, 0);
	/* past the end: the index promised bytes that are not there */
	assert_int_equal(get_mem(t, "packs/big.arcp", n - 10, 20, &b, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "shorter than expected"));
	assert_int_equal(get_mem(t, "packs/big.arcp", n + 10, 5, &b, NULL), ARCA_ECORRUPT);
	free(data);
	arca_buf_release(&b);
	t->free(t);
}

static void s3_create_only_twice_second_is_eexists(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	arca_buf b = ARCA_BUF_INIT(4096);
	uint64_t n0;
	(void)state;
	assert_int_equal(put_mem(t, "refs/x/latest/0000000000000001", "one", 3, 1), 0);
	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "refs/x/latest/0000000000000001", "two", 3, 1), ARCA_EEXISTS);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	assert_non_null(strstr(arca_error_last(), "412"));
	assert_int_equal(get_mem(t, "refs/x/latest/0000000000000001", 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.ptr, "one", 3);
	/* a plain put overwrites */
	assert_int_equal(put_mem(t, "refs/x/latest/HEAD", "h1", 2, 0), 0);
	assert_int_equal(put_mem(t, "refs/x/latest/HEAD", "h2", 2, 0), 0);
	assert_int_equal(get_mem(t, "refs/x/latest/HEAD", 0, 0, &b, NULL), 0);
	assert_memory_equal(b.ptr, "h2", 2);
	arca_buf_release(&b);
	t->free(t);
}

typedef struct {
	arca_transport *t;
	const char *key;
	char body[32];
	pthread_barrier_t *bar;
	int rc;
} racer;

static void *race(void *p)
{
	racer *r = p;
	pthread_barrier_wait(r->bar);
	r->rc = put_mem(r->t, r->key, r->body, strlen(r->body), 1);
	return NULL;
}

static void s3_racing_create_only_one_wins(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	arca_buf b = ARCA_BUF_INIT(4096);
	(void)state;
	for (int round = 0; round < 10; round++) {
		char key[64];
		pthread_barrier_t bar;
		pthread_t th[2];
		racer r[2];
		snprintf(key, sizeof(key), "refs/race/t/%016x", round + 1);
		pthread_barrier_init(&bar, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i] = (racer){ t, key, { 0 }, &bar, -99 };
			snprintf(r[i].body, sizeof(r[i].body), "writer %d round %d", i, round);
			assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&bar);
		assert_true((r[0].rc == 0 && r[1].rc == ARCA_EEXISTS) ||
			(r[1].rc == 0 && r[0].rc == ARCA_EEXISTS));
		assert_int_equal(get_mem(t, key, 0, 0, &b, NULL), 0);
		{
			const char *won = r[0].rc == 0 ? r[0].body : r[1].body;
			assert_int_equal(b.len, strlen(won));
			assert_memory_equal(b.ptr, won, b.len);
		}
	}
	arca_buf_release(&b);
	t->free(t);
}

static void s3_wrong_secret_is_eauth_without_retry(void **state)
{
	const char *bad = "wrongSecretwrongSecretwrongSecret0000000";
	arca_transport *t = open_s3(s3_url, access_key, bad);
	arca_buf b = ARCA_BUF_INIT(4096);
	char want[600];
	uint64_t n0;
	(void)state;
	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "packs/k", "x", 1, 0), ARCA_EAUTH);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	snprintf(want, sizeof(want), "put s3://127.0.0.1:%d/" BUCKET "/pre/packs/k: 403 SignatureDoesNotMatch",
		s3_port);
	assert_string_equal(arca_error_last(), want);
	assert_null(strstr(arca_error_last(), bad));
	assert_null(strstr(arca_error_last(), access_key));
	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/k", 0, 0, &b, NULL), ARCA_EAUTH);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	t->free(t);
	/* an unknown key, too */
	t = open_s3(s3_url, "NOSUCHACCESSKEY00000", secret_key);
	assert_int_equal(get_mem(t, "packs/k", 0, 0, &b, NULL), ARCA_EAUTH);
	assert_non_null(strstr(arca_error_last(), "403 InvalidAccessKeyId"));
	arca_buf_release(&b);
	t->free(t);
}

typedef struct {
	arca_transport *t;
	int from, to;
} filler;

static void *fill(void *p)
{
	filler *f = p;
	for (int i = f->from; i < f->to; i++) {
		char key[64];
		snprintf(key, sizeof(key), "list/k%05d", i);
		if (put_mem(f->t, key, key, (size_t)(i % 7), 0) != 0)
			return (void *)1;
	}
	return NULL;
}

typedef struct {
	int n, bad;
	unsigned char seen[1100];
} list_acc;

static int list_cb(const char *key, uint64_t size, void *ctx)
{
	list_acc *a = ctx;
	int i;
	if (sscanf(key, "list/k%05d", &i) != 1 || i < 0 || i >= 1100 || a->seen[i] ||
			size != (uint64_t)(i % 7))
		a->bad++;
	else
		a->seen[i] = 1;
	a->n++;
	return 0;
}

static void s3_list_more_than_1000_keys_pages(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	pthread_t th[4];
	filler f[4];
	list_acc acc;
	uint64_t n0;
	(void)state;
	for (int i = 0; i < 4; i++) {
		f[i] = (filler){ t, i * 1001 / 4, (i + 1) * 1001 / 4 };
		pthread_create(&th[i], NULL, fill, &f[i]);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	/* four threads at once: four connections, kept for what follows */
	assert_true(arca_http_transport_connects(t) <= 4);
	/* other keys under the remote, and outside its prefix, are not listed */
	assert_int_equal(put_mem(t, "listx", "x", 1, 0), 0);

	memset(&acc, 0, sizeof(acc));
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->list(t, "list/", list_cb, &acc), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 2);  /* 1000 + 1 */
	assert_int_equal(acc.n, 1001);
	assert_int_equal(acc.bad, 0);

	memset(&acc, 0, sizeof(acc));
	arca_http_transport_set_list_page(t, 100);
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->list(t, "list/", list_cb, &acc), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 11);
	assert_int_equal(acc.n, 1001);
	assert_int_equal(acc.bad, 0);
	t->free(t);
}

static int stop_after_3(const char *key, uint64_t size, void *ctx)
{
	(void)key; (void)size;
	return ++*(int *)ctx == 3 ? ARCA_EUSER : 0;
}

static void s3_list_callback_stops_it(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	int n = 0;
	(void)state;
	assert_int_equal(put_mem(t, "stop/a", "", 0, 0), 0);
	assert_int_equal(put_mem(t, "stop/b", "", 0, 0), 0);
	assert_int_equal(put_mem(t, "stop/c", "", 0, 0), 0);
	assert_int_equal(put_mem(t, "stop/d", "", 0, 0), 0);
	assert_int_equal(t->list(t, "stop/", stop_after_3, &n), ARCA_EUSER);
	assert_int_equal(n, 3);
	t->free(t);
}

static int cancel_sink(void *ctx, const void *p, size_t n)
{
	(void)p; (void)n;
	++*(int *)ctx;
	return ARCA_EUSER;
}

static void s3_sink_cancels_get(void **state)
{
	arca_transport *t = open_s3(s3_url, access_key, secret_key);
	uint8_t data[100000];
	int calls = 0;
	uint64_t n0;
	(void)state;
	th_fill_random(data, sizeof(data), 3);
	assert_int_equal(put_mem(t, "cancel", data, sizeof(data), 0), 0);
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->get(t, "cancel", 0, 0, cancel_sink, &calls, NULL), ARCA_EUSER);
	assert_int_equal(calls, 1);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	t->free(t);
}

static void s3_5xx_twice_then_success_is_retried(void **state)
{
	char url[256];
	int port;
	pid_t pid;
	arca_transport *t, *direct = open_s3(s3_url, access_key, secret_key);
	arca_buf b = ARCA_BUF_INIT(64 * MiB);
	size_t big = 9 * MiB + 1;
	uint8_t *data = malloc(big);
	uint64_t n0;
	(void)state;
	snprintf(url, sizeof(url), "%d", s3_port);
	pid = flaky_start("proxy", url, &port);
	snprintf(url, sizeof(url), "s3://127.0.0.1:%d/" BUCKET "/pre", port);
	t = open_s3(url, access_key, secret_key);
	th_fill_random(data, big, 4);

	/* a put resends its body from memory */
	flaky_ctl(port, "fail/2/before");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "retry/small", data, 5000, 0), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 3);
	assert_int_equal(get_mem(direct, "retry/small", 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.ptr, data, 5000);

	/* ... and from its spool */
	flaky_ctl(port, "fail/2/before");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "retry/big", data, big, 0), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 3);
	assert_int_equal(get_mem(direct, "retry/big", 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, big);
	assert_memory_equal(b.ptr, data, big);

	/* ... and from the caller's file, with its hash known or not */
	{
		char path[] = "/tmp/arca-putfd-XXXXXX";
		uint8_t sha[32];
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		unlink(path);
		assert_int_equal(write(fd, data, big), (ssize_t)big);
		assert_int_equal(arca_sha256_digest(sha, data, big), 0);
		for (int known = 0; known < 2; known++) {
			flaky_ctl(port, "fail/2/before");
			n0 = arca_http_transport_requests(t);
			assert_int_equal(arca_transport_put_fd(t, "retry/fd", fd, big,
				known ? sha : NULL, 0), 0);
			assert_int_equal(arca_http_transport_requests(t) - n0, 3);
			b.len = 0;
			assert_int_equal(get_mem(direct, "retry/fd", 0, 0, &b, NULL), 0);
			assert_int_equal(b.len, big);
			assert_memory_equal(b.ptr, data, big);
		}
		/* the hash given is the one signed: the server checks the body against it */
		sha[0] ^= 1;
		assert_int_not_equal(arca_transport_put_fd(direct, "retry/fd2", fd, big, sha, 0), 0);
		assert_non_null(strstr(arca_error_last(), "retry/fd2"));
		assert_int_equal(direct->head(direct, "retry/fd2", NULL), ARCA_ENOTFOUND);
		close(fd);
	}

	flaky_ctl(port, "fail/2/before");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "retry/big", 100, 1000, &b, NULL), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 3);
	assert_memory_equal(b.ptr, data + 100, 1000);

	flaky_ctl(port, "fail/2/before");
	assert_int_equal(t->head(t, "retry/small", NULL), 0);
	flaky_ctl(port, "fail/2/before");
	assert_int_equal(t->remove(t, "retry/small"), 0);
	assert_int_equal(direct->head(direct, "retry/small", NULL), ARCA_ENOTFOUND);

	/* bounded: 1 + max_retries (5) attempts, then the last answer */
	flaky_ctl(port, "fail/6/before");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "retry/big", 0, 10, &b, NULL), ARCA_EIO);
	assert_int_equal(arca_http_transport_requests(t) - n0, 6);
	assert_non_null(strstr(arca_error_last(), ": 500 InternalError (after 6 attempts)"));
	assert_int_equal(flaky_ctl(port, "count"), 3 + 3 + 3 + 3 + 3 + 3 + 3 + 6);

	t->free(t);
	direct->free(direct);
	stop_pid(pid);
	free(data);
	arca_buf_release(&b);
}

/* The server stored a create-only put but its answer was lost: the retry
 * sees 412 on our own object, which is a success. */
static void s3_create_only_retry_after_lost_answer(void **state)
{
	char arg[32], url[256];
	int port;
	pid_t pid;
	arca_transport *t;
	(void)state;
	snprintf(arg, sizeof(arg), "%d", s3_port);
	pid = flaky_start("proxy", arg, &port);
	snprintf(url, sizeof(url), "s3://127.0.0.1:%d/" BUCKET "/pre", port);
	t = open_s3(url, access_key, secret_key);
	flaky_ctl(port, "fail/1/after");
	assert_int_equal(put_mem(t, "refs/lost/t/0000000000000001", "mine", 4, 1), 0);
	flaky_ctl(port, "fail/1/after");
	assert_int_equal(put_mem(t, "refs/lost/t/0000000000000001", "theirs", 6, 1), ARCA_EEXISTS);
	t->free(t);
	stop_pid(pid);
}

static void s3_connection_refused_is_retried_then_eio(void **state)
{
	char url[256];
	arca_transport_config c = cfg_with("AK", "SK");
	arca_transport *t = NULL;
	arca_buf b = ARCA_BUF_INIT(4096);
	(void)state;
	c.max_retries = 2;
	c.retry_base_ms = 1;
	snprintf(url, sizeof(url), "s3://127.0.0.1:%d/" BUCKET, free_port());
	assert_int_equal(arca_transport_s3_open(&t, url, &c), 0);
	assert_int_equal(get_mem(t, "x", 0, 0, &b, NULL), ARCA_EIO);
	assert_int_equal(arca_http_transport_requests(t), 3);
	assert_non_null(strstr(arca_error_last(), "(after 3 attempts)"));
	assert_non_null(strstr(arca_error_last(), "get s3://127.0.0.1:"));
	arca_buf_release(&b);
	t->free(t);
}

static const char *AWS = "/usr/bin/aws";

static void aws(const char *args)
{
	char conf[4200];
	snprintf(conf, sizeof(conf), "%s/aws", tmp);
	mkdir(conf, 0700);
	sh("mkdir -p '%s/aws/home' && printf '[default]\\ns3 =\\n    addressing_style = path\\n' >'%s/aws/config' && "
		"HOME='%s/aws/home' AWS_CONFIG_FILE='%s/aws/config' AWS_SHARED_CREDENTIALS_FILE=/dev/null "
		"AWS_ACCESS_KEY_ID='%s' AWS_SECRET_ACCESS_KEY='%s' AWS_DEFAULT_REGION='%s' "
		"AWS_EC2_METADATA_DISABLED=true AWS_PAGER= %s --endpoint-url '%s' %s >/dev/null",
		tmp, tmp, tmp, tmp, access_key, secret_key, region, AWS, endpoint, args);
}

static void s3_objects_cross_with_awscli(void **state)
{
	arca_transport *t;
	char a[4200], cmd[9000];
	arca_buf b = ARCA_BUF_INIT(64 * MiB);
	size_t n = 3 * MiB + 11;
	uint8_t *data = malloc(n);
	(void)state;
	if (access(AWS, X_OK) != 0) {
		free(data);
		skip();
	}
	t = open_s3(s3_url, access_key, secret_key);
	th_fill_random(data, n, 5);
	assert_int_equal(put_mem(t, "interop/by-arca", data, n, 0), 0);
	snprintf(a, sizeof(a), "%s/by-arca", tmp);
	snprintf(cmd, sizeof(cmd), "s3 cp s3://" BUCKET "/pre/interop/by-arca '%s'", a);
	aws(cmd);
	{
		uint8_t *got = malloc(n);
		FILE *f = fopen(a, "rb");
		assert_non_null(f);
		assert_int_equal(fread(got, 1, n, f), n);
		assert_int_equal(fgetc(f), EOF);
		fclose(f);
		assert_memory_equal(got, data, n);
		free(got);
	}
	snprintf(a, sizeof(a), "%s/by-aws", tmp);
	th_write_random(a, 12 * MiB + 5, 6);     /* awscli makes it multipart */
	snprintf(cmd, sizeof(cmd), "s3 cp '%s' s3://" BUCKET "/pre/interop/by-aws", a);
	aws(cmd);
	assert_int_equal(get_mem(t, "interop/by-aws", 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 12 * MiB + 5);
	{
		uint8_t *want = malloc(b.len);
		th_fill_random(want, b.len, 6);
		assert_memory_equal(b.ptr, want, b.len);
		free(want);
	}
	free(data);
	arca_buf_release(&b);
	t->free(t);
}

/* ---- static HTTP and URLs: no S3 server ---- */

static char www[4200];
static pid_t lighttpd_pid;
static int www_port;

static int http_group_setup(void **state)
{
	char conf[4300];
	FILE *f;
	(void)state;
	snprintf(www, sizeof(www), "%s/www", tmp);
	mkdir(www, 0755);
	if (access("/usr/sbin/lighttpd", X_OK) != 0)
		return 0; /* its tests skip */
	www_port = free_port();
	snprintf(conf, sizeof(conf), "%s/lighttpd.conf", tmp);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "server.document-root = \"%s\"\nserver.bind = \"127.0.0.1\"\nserver.port = %d\n"
		"server.errorlog = \"%s/lighttpd-error.log\"\n", www, www_port, tmp);
	fclose(f);
	lighttpd_pid = fork();
	if (lighttpd_pid == 0) {
		execl("/usr/sbin/lighttpd", "lighttpd", "-D", "-f", conf, (char *)NULL);
		_exit(127);
	}
	child_add(lighttpd_pid);
	for (int i = 0; i < 200 && !port_open(www_port); i++)
		usleep(20000);
	return port_open(www_port) ? 0 : -1;
}

static int http_group_teardown(void **state)
{
	(void)state;
	stop_pid(lighttpd_pid);
	return 0;
}

static void http_get_range_head_from_lighttpd(void **state)
{
	char url[256], path[4300];
	arca_transport *t = NULL;
	arca_buf b = ARCA_BUF_INIT(64 * MiB);
	uint8_t *data;
	size_t n = 2 * MiB + 3;
	uint64_t size = 0, n0;
	(void)state;
	if (!lighttpd_pid)
		skip();
	data = malloc(n);
	th_fill_random(data, n, 7);
	snprintf(path, sizeof(path), "%s/remote/packs", www);
	sh("mkdir -p '%s'", path);
	snprintf(path, sizeof(path), "%s/remote/packs/p1.arcp", www);
	th_write_file(path, data, n);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/remote", www_port);
	assert_int_equal(arca_transport_http_open(&t, url, NULL), 0);
	assert_int_equal(t->readonly, 1);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/p1.arcp", 0, 0, &b, &size), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	assert_int_equal(b.len, n);
	assert_int_equal(size, n);
	assert_memory_equal(b.ptr, data, n);
	assert_int_equal(get_mem(t, "packs/p1.arcp", MiB + 1, 4096, &b, &size), 0);
	assert_int_equal(b.len, 4096);
	assert_memory_equal(b.ptr, data + MiB + 1, 4096);
	assert_int_equal(size, n);
	assert_int_equal(get_mem(t, "packs/p1.arcp", n - 5, 10, &b, NULL), ARCA_ECORRUPT);
	assert_int_equal(t->head(t, "packs/p1.arcp", &size), 0);
	assert_int_equal(size, n);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/none", 0, 0, &b, NULL), ARCA_ENOTFOUND);
	snprintf(url, sizeof(url), "get http://127.0.0.1:%d/remote/packs/none: 404 Not Found", www_port);
	assert_string_equal(arca_error_last(), url);
	assert_int_equal(t->head(t, "packs/none", NULL), ARCA_ENOTFOUND);
	assert_int_equal(arca_http_transport_requests(t) - n0, 2);

	n0 = arca_http_transport_requests(t);
	assert_int_equal(put_mem(t, "packs/p2", "x", 1, 0), ARCA_EUNSUPPORTED);
	assert_non_null(strstr(arca_error_last(), "read-only"));
	assert_int_equal(put_mem(t, "refs/a/b/0000000000000001", "x", 1, 1), ARCA_EUNSUPPORTED);
	assert_int_equal(t->list(t, "packs/", list_cb, NULL), ARCA_EUNSUPPORTED);
	assert_int_equal(t->remove(t, "packs/p1.arcp"), ARCA_EUNSUPPORTED);
	assert_int_equal(arca_http_transport_requests(t) - n0, 0);
	free(data);
	arca_buf_release(&b);
	t->free(t);
}

static void http_server_ignoring_range_and_failing(void **state)
{
	char file[4300], url[256], msg[256];
	uint8_t data[50000];
	arca_transport_config c = cfg_with(NULL, NULL);
	arca_transport *t = NULL;
	arca_buf b = ARCA_BUF_INIT(MiB);
	uint64_t size = 0, n0;
	int port;
	pid_t pid;
	(void)state;
	th_fill_random(data, sizeof(data), 8);
	snprintf(file, sizeof(file), "%s/whole", tmp);
	th_write_file(file, data, sizeof(data));
	pid = flaky_start("static", file, &port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/r/", port);
	assert_int_equal(arca_transport_http_open(&t, url, &c), 0);
	/* 200 with the whole body: skipped to the offset, cut at the length */
	assert_int_equal(get_mem(t, "packs/x", 1234, 5000, &b, &size), 0);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.ptr, data + 1234, 5000);
	assert_int_equal(size, sizeof(data));
	assert_int_equal(get_mem(t, "packs/x", 40000, 0, &b, NULL), 0);
	assert_int_equal(b.len, 10000);
	assert_memory_equal(b.ptr, data + 40000, 10000);
	assert_int_equal(get_mem(t, "packs/x", 49990, 100, &b, NULL), ARCA_ECORRUPT);

	flaky_ctl(port, "fail/2/before");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/x", 10, 10, &b, NULL), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 3);
	assert_memory_equal(b.ptr, data + 10, 10);
	/* 429 and 503 are retried too */
	flaky_ctl(port, "fail/1/before/429");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->head(t, "packs/x", NULL), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 2);
	flaky_ctl(port, "fail/1/before/503");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(t->head(t, "packs/x", NULL), 0);
	assert_int_equal(arca_http_transport_requests(t) - n0, 2);
	/* other 4xx never are */
	flaky_ctl(port, "fail/1/before/400");
	n0 = arca_http_transport_requests(t);
	assert_int_equal(get_mem(t, "packs/x", 0, 10, &b, NULL), ARCA_EIO);
	assert_int_equal(arca_http_transport_requests(t) - n0, 1);
	snprintf(msg, sizeof(msg), "get http://127.0.0.1:%d/r/packs/x: 400 InternalError", port);
	assert_string_equal(arca_error_last(), msg);
	flaky_ctl(port, "fail/1/before/401");
	assert_int_equal(get_mem(t, "packs/x", 0, 10, &b, NULL), ARCA_EAUTH);
	assert_int_equal(arca_http_transport_requests(t) - n0, 2);
	t->free(t);
	/* no progress for timeout_s: the request is given up and retried */
	c.timeout_s = 1;
	assert_int_equal(arca_transport_http_open(&t, url, &c), 0);
	flaky_ctl(port, "fail/1/stall");
	assert_int_equal(get_mem(t, "packs/x", 10, 10, &b, NULL), 0);
	assert_int_equal(arca_http_transport_requests(t), 2);
	assert_memory_equal(b.ptr, data + 10, 10);
	t->free(t);
	stop_pid(pid);
	arca_buf_release(&b);
}

static void s3_urls_are_parsed_strictly(void **state)
{
	static const char *bad[] = {
		"s3://127.0.0.1:9000",                 /* no bucket */
		"s3://127.0.0.1:9000/",
		"s3://127.0.0.1:9000/ab",              /* bucket too short */
		"s3://127.0.0.1:9000/Bucket",          /* upper case */
		"s3://127.0.0.1:9000/-bucket",
		"s3://user:pw@127.0.0.1:9000/bucket",  /* credentials */
		"s3://127.0.0.1:9000/bucket?x=1",
		"s3://127.0.0.1:9000/bucket#f",
		"s3://127.0.0.1:0/bucket",
		"s3://127.0.0.1:65536/bucket",
		"s3://127.0.0.1:/bucket",
		"s3://127.0.0.1:9x/bucket",
		"s3:///bucket",
		"s3://[::1/bucket",
		"s3://[zz]/bucket",
		"s3://h_st/bucket",
		"s3://host/bucket/a//b",
		"s3://host/bucket/a/../b",
		"s3://host/bucket/a%2Fb",
		"s3://host/bucket/a b",
		"http://host/bucket",
	};
	static const char *good[] = {
		"s3://127.0.0.1:9000/bucket", "s3://localhost/bucket/p", "s3://[::1]:8000/b.c-d/x/y/",
		"s3://s3.example.com/my-bucket/some/prefix",
	};
	arca_transport_config c = cfg_with("AK", "SK");
	arca_transport *t = NULL;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = arca_transport_s3_open(&t, bad[i], &c);
		if (rc != ARCA_EINVAL)
			fail_msg("%s: %d, not EINVAL", bad[i], rc);
		assert_null(t);
	}
	assert_int_equal(arca_transport_s3_open(&t, "s3://u:secretpw@h/bucket", &c), ARCA_EINVAL);
	assert_null(strstr(arca_error_last(), "secretpw"));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = arca_transport_s3_open(&t, good[i], &c);
		if (rc != 0)
			fail_msg("%s: %s", good[i], arca_error_last());
		t->free(t);
	}
	assert_int_equal(arca_transport_http_open(&t, "http://u:pw@h/x", NULL), ARCA_EINVAL);
	assert_int_equal(arca_transport_http_open(&t, "https://h/x?y", NULL), ARCA_EINVAL);
	assert_int_equal(arca_transport_http_open(&t, "https://h", NULL), 0);
	t->free(t);
}

/* A host that is not loopback gets TLS: https to a plain HTTP port fails
 * the handshake. insecure_http, or a loopback address, talks plain HTTP.
 * ("127.1" reaches 127.0.0.1 but is not a dotted loopback address.) */
static void s3_tls_unless_loopback_or_insecure(void **state)
{
	char url[256], file[4300];
	int port;
	pid_t pid;
	arca_transport_config c = cfg_with("AK", "SK");
	arca_transport *t = NULL;
	arca_buf b = ARCA_BUF_INIT(4096);
	(void)state;
	snprintf(file, sizeof(file), "%s/nothing", tmp);
	th_write_file(file, "", 0);
	pid = flaky_start("static", file, &port);
	c.max_retries = 1;
	c.retry_base_ms = 1;
	snprintf(url, sizeof(url), "s3://127.1:%d/bucket", port);
	assert_int_equal(arca_transport_s3_open(&t, url, &c), 0);
	assert_int_equal(get_mem(t, "k", 0, 0, &b, NULL), ARCA_EIO);
	t->free(t);
	c.insecure_http = 1;
	assert_int_equal(arca_transport_s3_open(&t, url, &c), 0);
	assert_int_equal(get_mem(t, "k", 0, 0, &b, NULL), 0);
	t->free(t);
	c.insecure_http = 0;
	snprintf(url, sizeof(url), "s3://127.0.0.1:%d/bucket", port);
	assert_int_equal(arca_transport_s3_open(&t, url, &c), 0);
	assert_int_equal(get_mem(t, "k", 0, 0, &b, NULL), 0);
	t->free(t);
	arca_buf_release(&b);
	stop_pid(pid);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest s3_tests[] = {
		cmocka_unit_test(s3_put_get_head_remove_round_trip),
		cmocka_unit_test(s3_20mib_object_and_ranges),
		cmocka_unit_test(s3_create_only_twice_second_is_eexists),
		cmocka_unit_test(s3_racing_create_only_one_wins),
		cmocka_unit_test(s3_wrong_secret_is_eauth_without_retry),
		cmocka_unit_test(s3_list_more_than_1000_keys_pages),
		cmocka_unit_test(s3_list_callback_stops_it),
		cmocka_unit_test(s3_sink_cancels_get),
		cmocka_unit_test(s3_5xx_twice_then_success_is_retried),
		cmocka_unit_test(s3_create_only_retry_after_lost_answer),
		cmocka_unit_test(s3_objects_cross_with_awscli),
	};
	const struct CMUnitTest http_tests[] = {
		cmocka_unit_test(s3_urls_are_parsed_strictly),
		cmocka_unit_test(s3_connection_refused_is_retried_then_eio),
		cmocka_unit_test(s3_tls_unless_loopback_or_insecure),
		cmocka_unit_test(http_get_range_head_from_lighttpd),
		cmocka_unit_test(http_server_ignoring_range_and_failing),
	};
	int rc;
	if (argc != 2 || (strcmp(argv[1], "s3") && strcmp(argv[1], "http"))) {
		fprintf(stderr, "usage: %s s3|http\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	tmp = th_tmpdir();
	snprintf(region, sizeof(region), "us-east-1");
	if (strcmp(argv[1], "s3") == 0) {
		if ((rc = s3_server_start()) != 0) {
			th_cleanup(tmp);
			return rc;   /* 77: ctest's skip */
		}
		rc = cmocka_run_group_tests_name("transport_s3", s3_tests, NULL, NULL);
		s3_server_stop();
	} else {
		rc = cmocka_run_group_tests_name("transport_http", http_tests, http_group_setup,
			http_group_teardown);
	}
	th_cleanup(tmp);
	return rc;
}
