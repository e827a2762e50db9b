/* Unit tests of ivserver_setup.c: the server's start-up (the fd limit, the shared memory file, the listening
 * socket and its default path) in a temporary folder, in one process. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "ivserver_fixture.h"

/* The start-up check: enough fds for every peer's socket and eventfds, raising the soft limit if the
 * hard one allows, else -EMFILE with both numbers. */
static void test_fd_limit_check(void)
{
	struct rlimit saved, rl;
	uint64_t needed, limit;
	pid_t pid;
	int status;

	CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	CHECK(ivserver_check_fd_limit(1, 2, &needed, &limit) == 0);
	CHECK(needed == 2 * 2 + IVSERVER_FD_MARGIN && limit >= needed);
	pid = fork();
	if (pid == 0) {
		int ok = 1;

		rl.rlim_cur = 64;
		rl.rlim_max = 1000;
		ok &= setrlimit(RLIMIT_NOFILE, &rl) == 0;
		/* Within the hard limit: the soft one is raised. */
		ok &= ivserver_check_fd_limit(IVSERVER_MAX_VECTORS, 4, &needed, &limit) == 0;
		ok &= needed == 4 * (1 + IVSERVER_MAX_VECTORS) + IVSERVER_FD_MARGIN && limit == needed;
		ok &= getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == needed;
		/* Beyond it: refused, with the limit reached. */
		ok &= ivserver_check_fd_limit(IVSERVER_MAX_VECTORS, IVSERVER_MAX_PEERS, &needed, &limit) == -EMFILE;
		ok &= needed == IVSERVER_MAX_PEERS * (1 + IVSERVER_MAX_VECTORS) + IVSERVER_FD_MARGIN && limit == 1000;
		_exit(ok ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_socket_mode_and_unlink(void)
{
	struct ivserver s;
	struct stat st;
	int fd;

	CHECK(start_server(&s, 1, 2, NULL) == 0);
	CHECK(lstat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);
	ivserver_close(&s);
	CHECK(lstat(sock_path, &st) < 0 && errno == ENOENT);

	/* If someone replaced our socket file meanwhile, close leaves theirs alone. */
	CHECK(start_server(&s, 1, 2, NULL) == 0);
	CHECK(unlink(sock_path) == 0);
	fd = open(sock_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
	ivserver_close(&s);
	CHECK(lstat(sock_path, &st) == 0 && S_ISREG(st.st_mode));
	unlink(sock_path);
}

static void test_bad_socket_paths(void)
{
	struct ivserver s, other;
	char path[256];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	CHECK(ivserver_init(&s, 1, 2, NULL) == 0);
	path_in_tmp(path, sizeof(path), "no-such-folder/ivshmem.sock");
	CHECK(ivserver_listen(&s, path) == -ENOENT);
	CHECK(ivserver_listen(&s, "") == -ENOENT);
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	CHECK(ivserver_listen(&s, path) == -ENAMETOOLONG);

	/* A regular file in the way is neither used nor removed. */
	path_in_tmp(path, sizeof(path), "not-a-socket");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
	close(fd);
	CHECK(ivserver_listen(&s, path) == -EEXIST);
	CHECK(stat(path, &st) == 0 && st.st_size == 4);
	unlink(path);

	/* A live server keeps its socket. */
	CHECK(ivserver_init(&other, 1, 2, NULL) == 0 && ivserver_listen(&other, sock_path) == 0);
	CHECK(ivserver_listen(&s, sock_path) == -EADDRINUSE);
	CHECK(ivserver_listen(&other, sock_path) == -EBUSY);
	ivserver_close(&other);

	/* A stale socket (its server died without unlinking it) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(set_sun_path(&addr, sock_path));
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	close(fd);
	CHECK(lstat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(ivserver_listen(&s, sock_path) == 0);
	fd = client_connect(sock_path);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	ivserver_close(&s);
}

static void test_shm_open(void)
{
	struct ivserver s;
	char path[128], link_path[128];
	struct stat st;
	int fd;

	/* A new file: created 0600 with the default size. */
	path_in_tmp(path, sizeof(path), "shm-new");
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0);
	CHECK(ivserver_open_shm(&s, path, 0, 1u << 20) == 0 && s.shm_size == 1u << 20);
	CHECK(ivserver_open_shm(&s, path, 0, 1u << 20) == -EBUSY);
	CHECK(stat(path, &st) == 0 && st.st_size == 1 << 20 && (st.st_mode & 07777) == 0600);
	ivserver_close(&s);

	/* An explicit size grows it; a smaller one never shrinks it (the file's size wins). */
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0);
	CHECK(ivserver_open_shm(&s, path, 2u << 20, 4096) == 0 && s.shm_size == 2u << 20);
	ivserver_close(&s);
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0);
	CHECK(ivserver_open_shm(&s, path, 4096, 4096) == 0 && s.shm_size == 2u << 20);
	ivserver_close(&s);
	CHECK(stat(path, &st) == 0 && st.st_size == 2 << 20);

	/* A file open to others is closed to them. */
	CHECK(chmod(path, 0644) == 0);
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0 && ivserver_open_shm(&s, path, 0, 4096) == 0);
	ivserver_close(&s);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);

	/* A size that is not a power of two is refused, and the file left as it was. */
	CHECK(truncate(path, 3 * 4096) == 0);
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0);
	CHECK(ivserver_open_shm(&s, path, 0, 4096) == -EDOM);
	CHECK(ivserver_open_shm(&s, path, 8192, 4096) == -EDOM);
	CHECK(stat(path, &st) == 0 && st.st_size == 3 * 4096);
	CHECK(ivserver_open_shm(&s, path, 16384, 4096) == 0 && s.shm_size == 16384);
	ivserver_close(&s);

	/* Too small, a symbolic link, a directory, a FIFO. */
	path_in_tmp(link_path, sizeof(link_path), "shm-small");
	CHECK(ivserver_init(&s, 1, 2, NULL) == 0 && ivserver_open_shm(&s, link_path, 2048, 4096) == -EDOM);
	unlink(link_path);
	path_in_tmp(link_path, sizeof(link_path), "shm-link");
	CHECK(symlink(path, link_path) == 0);
	CHECK(ivserver_open_shm(&s, link_path, 0, 4096) == -ELOOP);
	CHECK(ivserver_open_shm(&s, tmpdir, 0, 4096) == -EISDIR);
	unlink(link_path);
	path_in_tmp(link_path, sizeof(link_path), "shm-fifo");
	CHECK(mkfifo(link_path, 0600) == 0);
	CHECK(ivserver_open_shm(&s, link_path, 0, 4096) == -EINVAL);
	unlink(link_path);
	ivserver_close(&s);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	unlink(path);
}

static void test_default_socket_path(void)
{
	char path[IVSERVER_SOCK_PATH_LEN], want[160], dir[128];
	const char *saved = getenv("XDG_RUNTIME_DIR");
	char *saved_copy = saved != NULL ? strdup(saved) : NULL;
	struct stat st;

	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	path_in_tmp(dir, sizeof(dir), "ivshmem-bench");
	snprintf(want, sizeof(want), "%s/ivshmem.sock", dir);
	CHECK(ivserver_default_socket_path(path, sizeof(path)) == 0 && strcmp(path, want) == 0);
	CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	/* Again, with the folder there. */
	CHECK(ivserver_default_socket_path(path, sizeof(path)) == 0);
	/* A folder others may enter is refused. */
	CHECK(chmod(dir, 0755) == 0);
	CHECK(ivserver_default_socket_path(path, sizeof(path)) == -EPERM);
	CHECK(rmdir(dir) == 0);
	/* A symbolic link in its place too. */
	CHECK(symlink(tmpdir, dir) == 0);
	CHECK(ivserver_default_socket_path(path, sizeof(path)) == -EPERM);
	CHECK(unlink(dir) == 0);
	CHECK(ivserver_default_socket_path(path, 10) == -ENAMETOOLONG);
	/* Without a runtime folder, only root has one (/run, not created here). */
	unsetenv("XDG_RUNTIME_DIR");
	if (geteuid() != 0)
		CHECK(ivserver_default_socket_path(path, sizeof(path)) == -ENOENT);
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
	if (geteuid() != 0)
		CHECK(ivserver_default_socket_path(path, sizeof(path)) == -ENOENT);
	if (saved_copy != NULL)
		setenv("XDG_RUNTIME_DIR", saved_copy, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved_copy);
}


int main(void)
{
	if (fixture_start("test_ivserver_setup") < 0)
		return 1;
	RUN_TEST(test_fd_limit_check);
	RUN_TEST(test_socket_mode_and_unlink);
	RUN_TEST(test_bad_socket_paths);
	RUN_TEST(test_shm_open);
	RUN_TEST(test_default_socket_path);
	fixture_finish();
	return CHECK_SUMMARY("unit ivserver setup");
}
