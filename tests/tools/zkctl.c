/*
 * zkctl.c - a tiny raw ZooKeeper client for the integration tests: read,
 * write, create, delete and list znodes with or without digest
 * credentials, and `fenced-set`, the leader's write (multi of
 * check(fence) + setData(path, version)), to prove fencing, ACLs and the
 * handling of malformed records from outside the daemon.
 *
 * Synchronous API on purpose: a test tool, not the daemon.  Errors print
 * "ERR <ZCODE>" on stdout (e.g. ERR ZNONODE, ERR ZBADVERSION, ERR ZNOAUTH)
 * and exit 1; usage errors exit 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "util.h"

#define ZKCTL_BUF (1024 * 1024)

/* The symbolic name of a ZooKeeper error code. */
static const char *
zkctl_code(int rc)
{
	switch (rc) {
	case ZNONODE:
		return "ZNONODE";
	case ZNODEEXISTS:
		return "ZNODEEXISTS";
	case ZBADVERSION:
		return "ZBADVERSION";
	case ZNOAUTH:
		return "ZNOAUTH";
	case ZNOTEMPTY:
		return "ZNOTEMPTY";
	case ZCONNECTIONLOSS:
		return "ZCONNECTIONLOSS";
	case ZOPERATIONTIMEOUT:
		return "ZOPERATIONTIMEOUT";
	case ZAUTHFAILED:
		return "ZAUTHFAILED";
	case ZINVALIDACL:
		return "ZINVALIDACL";
	default:
		return "ZERROR";
	}
}

/* Report a failed call and exit 1. */
static void
zkctl_fail(int rc)
{
	printf("ERR %s %s\n", zkctl_code(rc), zerror(rc));
	exit(1);
}

static void
zkctl_usage(void)
{
	fprintf(stderr,
	    "usage: zkctl [-a user:pass] [-t ms] hosts command args\n"
	    "  get PATH                 data on stdout\n"
	    "  stat PATH                version=, owner=0x.., czxid=, mzxid=\n"
	    "  set PATH DATA [VERSION]\n"
	    "  create PATH DATA [-e]    -e: ephemeral (lives while zkctl "
	    "runs)\n"
	    "  delete PATH [VERSION]\n"
	    "  ls PATH                  one child per line, sorted\n"
	    "  acl PATH                 scheme:id:perms per line\n"
	    "  fenced-set FENCE PATH DATA VERSION\n"
	    "  rmr PATH                 delete a subtree\n");
	exit(2);
}

/* Connect and wait (bounded) for the session. */
static zhandle_t *
zkctl_connect(const char *hosts, int timeout_ms, const char *cred)
{
	zhandle_t *zh;
	int i;

	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	zh = zookeeper_init(hosts, NULL, timeout_ms, NULL, NULL, 0);
	if (zh == NULL) {
		perror("zookeeper_init");
		exit(1);
	}
	for (i = 0; i < 200 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++)
		usleep(50 * 1000);
	if (zoo_state(zh) != ZOO_CONNECTED_STATE)
		zkctl_fail(ZCONNECTIONLOSS);
	if (cred != NULL) {
		int rc = zoo_add_auth(
		    zh, "digest", cred, (int)strlen(cred), NULL, NULL);
		if (rc != ZOK)
			zkctl_fail(rc);
	}
	return zh;
}

/* A version argument: -1 if absent. */
static int
zkctl_version(int argc, char **argv, int i)
{
	uint64_t v;

	if (i >= argc)
		return -1;
	if (strcmp(argv[i], "-1") == 0)
		return -1;
	if (parse_u64(argv[i], 0, INT32_MAX, &v) == -1)
		zkctl_usage();
	return (int)v;
}

static void
zkctl_get(zhandle_t *zh, const char *path)
{
	static char buf[ZKCTL_BUF];
	int len = sizeof(buf), rc;
	struct Stat st;

	if ((rc = zoo_get(zh, path, 0, buf, &len, &st)) != ZOK)
		zkctl_fail(rc);
	if (len > 0)
		fwrite(buf, 1, (size_t)len, stdout);
	printf("\n");
}

static void
zkctl_stat(zhandle_t *zh, const char *path)
{
	struct Stat st;
	int rc;

	if ((rc = zoo_exists(zh, path, 0, &st)) != ZOK)
		zkctl_fail(rc);
	printf("version=%d\nowner=0x%llx\nczxid=%lld\nmzxid=%lld\n"
	       "children=%d\n",
	    st.version, (unsigned long long)st.ephemeralOwner,
	    (long long)st.czxid, (long long)st.mzxid, st.numChildren);
}

/* Compare child names for a stable listing. */
static int
zkctl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
zkctl_ls(zhandle_t *zh, const char *path)
{
	struct String_vector sv;
	int rc, i;

	if ((rc = zoo_get_children(zh, path, 0, &sv)) != ZOK)
		zkctl_fail(rc);
	qsort(sv.data, (size_t)sv.count, sizeof(char *), zkctl_cmp);
	for (i = 0; i < sv.count; i++)
		printf("%s\n", sv.data[i]);
	deallocate_String_vector(&sv);
}

static void
zkctl_acl(zhandle_t *zh, const char *path)
{
	struct ACL_vector acl;
	struct Stat st;
	int rc, i;

	if ((rc = zoo_get_acl(zh, path, &acl, &st)) != ZOK)
		zkctl_fail(rc);
	for (i = 0; i < acl.count; i++)
		printf("%s:%s:%d\n", acl.data[i].id.scheme, acl.data[i].id.id,
		    acl.data[i].perms);
	deallocate_ACL_vector(&acl);
}

/* The leader's write, from outside: check(fence) + setData(path, v). */
static void
zkctl_fenced_set(zhandle_t *zh, char **argv, int argc)
{
	zoo_op_t ops[2];
	zoo_op_result_t res[2];
	struct Stat st;
	int rc;

	if (argc != 4)
		zkctl_usage();
	zoo_check_op_init(&ops[0], argv[0], -1);
	zoo_set_op_init(&ops[1], argv[1], argv[2], (int)strlen(argv[2]),
	    zkctl_version(argc, argv, 3), &st);
	rc = zoo_multi(zh, 2, ops, res);
	if (rc != ZOK)
		zkctl_fail(rc);
	printf("version=%d\n", st.version);
}

/* Delete a subtree, children first (test clean-up). */
static void
zkctl_rmr(zhandle_t *zh, const char *path)
{
	struct String_vector sv;
	char child[4096];
	int i;

	if (zoo_get_children(zh, path, 0, &sv) == ZOK) {
		for (i = 0; i < sv.count; i++) {
			snprintf(child, sizeof(child), "%s/%s",
			    strcmp(path, "/") == 0 ? "" : path, sv.data[i]);
			zkctl_rmr(zh, child);
		}
		deallocate_String_vector(&sv);
	}
	zoo_delete(zh, path, -1);
}

/* Run one command. */
static void
zkctl_run(zhandle_t *zh, const char *cmd, int argc, char **argv)
{
	int rc;

	if (strcmp(cmd, "get") == 0 && argc == 1)
		zkctl_get(zh, argv[0]);
	else if (strcmp(cmd, "stat") == 0 && argc == 1)
		zkctl_stat(zh, argv[0]);
	else if (strcmp(cmd, "ls") == 0 && argc == 1)
		zkctl_ls(zh, argv[0]);
	else if (strcmp(cmd, "acl") == 0 && argc == 1)
		zkctl_acl(zh, argv[0]);
	else if (strcmp(cmd, "rmr") == 0 && argc == 1)
		zkctl_rmr(zh, argv[0]);
	else if (strcmp(cmd, "fenced-set") == 0)
		zkctl_fenced_set(zh, argv, argc);
	else if (strcmp(cmd, "set") == 0 && (argc == 2 || argc == 3)) {
		rc = zoo_set(zh, argv[0], argv[1], (int)strlen(argv[1]),
		    zkctl_version(argc, argv, 2));
		if (rc != ZOK)
			zkctl_fail(rc);
	} else if (strcmp(cmd, "create") == 0 && (argc == 2 || argc == 3)) {
		int eph = argc == 3 && strcmp(argv[2], "-e") == 0;

		rc = zoo_create(zh, argv[0], argv[1], (int)strlen(argv[1]),
		    &ZOO_OPEN_ACL_UNSAFE, eph ? ZOO_EPHEMERAL : 0, NULL, 0);
		if (rc != ZOK)
			zkctl_fail(rc);
	} else if (strcmp(cmd, "delete") == 0 && (argc == 1 || argc == 2)) {
		if ((rc = zoo_delete(zh, argv[0], zkctl_version(argc, argv, 1)))
		    != ZOK)
			zkctl_fail(rc);
	} else
		zkctl_usage();
}

int
main(int argc, char **argv)
{
	const char *cred = NULL;
	uint64_t t = 4000;
	zhandle_t *zh;
	int ch;

	while ((ch = getopt(argc, argv, "a:t:")) != -1) {
		switch (ch) {
		case 'a':
			cred = optarg;
			break;
		case 't':
			if (parse_u64(optarg, 1000, 60000, &t) == -1)
				zkctl_usage();
			break;
		default:
			zkctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3)
		zkctl_usage();
	zh = zkctl_connect(argv[0], (int)t, cred);
	zkctl_run(zh, argv[1], argc - 2, argv + 2);
	fflush(stdout);
	zookeeper_close(zh);
	return 0;
}
