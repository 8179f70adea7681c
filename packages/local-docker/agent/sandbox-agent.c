/*
 * sandbox-agent: the in-sandbox end of @sandbox/local-docker's fast command
 * channel. Started once per sandbox by one long-lived `docker exec` whose
 * stdin and stdout carry a framed protocol; it runs many commands at once,
 * each as `sh -c <command>` in its own session, and streams their output.
 *
 * Frame: u32 payload length (big endian), u32 command id, u8 type, payload.
 *
 * Host to agent:
 *   'R' run:  NUL-terminated strings: marker entry (NAME=value), cwd (empty:
 *             the agent's), command, then zero or more NAME=value env entries.
 *   'K' kill: kill the whole tree of the command (process group, then every
 *             process carrying its marker entry), until none is left.
 *   'C' claim (warm pool): u32 lifetime in seconds, then the workdir
 *             (NUL-terminated, may be empty). Creates the workdir (mkdir -p)
 *             and forks a watchdog that sends SIGTERM to PID 1 when the
 *             lifetime is over (it outlives the agent). Frames are handled in
 *             order, so a command sent after it runs only once both are done.
 *   'W' write a file: the path (NUL-terminated), then the content. Follows
 *       symlinks, creates missing parent directories (mode 0755), replaces
 *       an existing regular file by a new one written beside it and renamed
 *       over it (with its mode and owner; so a write that fails, e.g. for
 *       want of space, leaves the old content), or where that cannot be
 *       (the file is a mount point, its directory takes no new file)
 *       truncates it in place; a new file gets mode 0644.
 *   'G' read a file: u32 most bytes, then the path (NUL-terminated). Only
 *       a regular file is opened (a FIFO or device never is).
 *   'B' stream a file (a large one: no copy of it is held here): as 'G'.
 *       Read between other frames, a chunk at a time, so commands' output
 *       and other requests keep flowing meanwhile.
 *   'L' list a directory as `find -L <path> -maxdepth 1 -not -path <path>`
 *       does: u8 'b' (BusyBox: each entry's own size and time, a directory
 *       when it leads to one) or 'g' (GNU find -printf under -L: the size,
 *       time and type of what it leads to, its own when it is dangling),
 *       then the path (NUL-terminated).
 *   'T' list a tree as deepagents' glob `find` does (`find -L <root> \(
 *       -path /proc -o ... \) -prune -o -not -path <root>`): u8 'b' or 'g'
 *       as for 'L', the root (NUL-terminated), then a `-name` pattern
 *       (NUL-terminated, empty: every entry). Entries the pattern drops are
 *       only counted.
 *   'S' search as deepagents' grep command does: u8 'b' (BusyBox grep), 'c'
 *       (GNU grep reading every byte as text: C locale) or 'g' (GNU grep that
 *       may take bytes over 0x7f for a binary file), u32 most bytes of output, then the path, the literal
 *       pattern and the glob (each NUL-terminated; an empty glob: none).
 *       Without a glob, as `grep -rHnF -e <pattern> <path>`; with one, as
 *       `find -L <path> -type f -name <glob> -exec grep -HnF -e <pattern> {} +`
 *       (stdout only, at most the bytes asked for).
 * Agent to host:
 *   'H' hello (id 0): "sandbox-agent <version> <pid> <euid>".
 *   'O' / 'E': stdout / stderr bytes of the command, in arrival order.
 *   'F' could not start (fork, chdir or exec failed): payload "<errno> <what>".
 *       Nothing of the command ran; the host runs it another way.
 *   'X' exit (after the shell was reaped and both pipes reached end of file,
 *       or 2 s after it was reaped, as docker exec: a process the command left
 *       in the background may hold the pipes; what it writes later is read and
 *       dropped, so it never meets a closed pipe):
 *       i32 exit code (128 + signal when killed by a signal), then the cgroup
 *       OOM-kill counter before and after as two i64 (-1: unreadable), then
 *       the pid of the command's shell as i32.
 *   'k' kill finished: u8 1 when no process of the tree is left, else 0.
 *   'c' claim applied: empty, or "<errno> <what>" when it failed.
 *   'l' listing: u8 0 then one line "size\tmtime\td|f\tpath\n" per entry,
 *       in directory order; or u8 2 (not answered here: too large, or a
 *       directory GNU find would visit in another order).
 *   't' tree: u8 0, the 'l' lines of the entries the pattern keeps, then
 *       "\003<entries>\t<bytes>\n" (every entry listed, and at most the bytes
 *       find's lines for them take); or u8 2 (not answered here: over 50 000 entries, a
 *       symlink loop, a directory GNU find would visit in another order).
 *   's' search: u8 0 then the output, or u8 2 (not answered here: anything
 *       the agent could answer differently from the command, e.g. a matching
 *       file with a NUL byte, a FIFO or device in the tree, a pseudo-filesystem,
 *       a symlink loop, a directory GNU would visit in another order, too much
 *       to read).
 *   'b' stream start: u8 3 then the size (u64), followed by 'd' frames
 *       (the bytes, in order) and an 'e' frame: u8 0 when exactly that many
 *       bytes were read and the file ended there, u8 2 when not (it changed
 *       while read, a read failed: the host uses another way). Or, instead of
 *       a start, a 'g'-like answer: u8 1 then a problem, u8 2 not answered.
 *   'w' / 'g' file answer: u8 0 then the content ('g'; nothing for 'w'),
 *       or u8 1 then a problem (not_found, not_a_directory, is_directory,
 *       permission_denied, not_regular, invalid; no_space: a write ran out
 *       of space or quota, and the file keeps what it held), or u8 2: not answered here
 *       (a path on /proc, /sys or /dev, a file over the size asked for, an
 *       error the agent does not classify): the host uses another way.
 * File operations run in the agent itself (no process), between frames:
 * they only touch regular files, which do not block.
 *
 * The agent needs no process to kill (kill(2) and /proc reads only), so it
 * can kill a fork bomb at the PID limit. When its stdin ends (the host went
 * away) it kills every running command and exits.
 *
 * Build: gcc -static -O2 -o sandbox-agent sandbox-agent.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VERSION "4"
#define HEADER 9
#define MAX_FRAME (16u * 1024u * 1024u)
#define CHUNK 65536

struct command {
  uint32_t id;
  pid_t pid;
  int out, err; /* -1 once at end of file */
  int reaped;
  long long reaped_at; /* CLOCK_MONOTONIC ms */
  int status;
  int64_t oom_before;
  char *marker; /* NAME=value */
};

static struct command *commands;
static size_t ncommands, capcommands;
static int sigchld_pipe[2];
static unsigned char *inbuf;
static size_t inlen, incap;

static void die(const char *what) {
  perror(what);
  _exit(70);
}

static void write_all(int fd, const void *data, size_t length) {
  const unsigned char *p = data;
  while (length > 0) {
    ssize_t n = write(fd, p, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(0); /* the host is gone */
    }
    p += n;
    length -= (size_t)n;
  }
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static void put64(unsigned char *p, int64_t value) {
  uint64_t v = (uint64_t)value;
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

static void send_frame(uint32_t id, char type, const void *payload, size_t length) {
  unsigned char header[HEADER];
  put32(header, (uint32_t)length);
  put32(header + 4, id);
  header[8] = (unsigned char)type;
  write_all(1, header, HEADER);
  if (length > 0) write_all(1, payload, length);
}

/* The cgroup's oom_kill counter (v2, then v1), or -1. */
static int64_t oom_kill_count(void) {
  static const char *files[] = {"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"};
  for (size_t i = 0; i < 2; i++) {
    FILE *f = fopen(files[i], "re");
    if (!f) continue;
    char key[64];
    long long value;
    int64_t found = -1;
    while (fscanf(f, "%63s %lld", key, &value) == 2) {
      if (strcmp(key, "oom_kill") == 0) found = value;
    }
    fclose(f);
    if (found >= 0) return found;
  }
  return -1;
}

static void on_sigchld(int signo) {
  (void)signo;
  int saved = errno;
  char byte = 0;
  ssize_t ignored = write(sigchld_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved;
}

static struct command *find(uint32_t id) {
  for (size_t i = 0; i < ncommands; i++)
    if (commands[i].id == id) return &commands[i];
  return NULL;
}

/*
 * The markers of the last commands that ended ('X' sent), so that a kill the
 * host sent before it read that 'X' (a timeout racing the command's end) still
 * kills what the command left running, instead of answering "nothing to kill".
 */
#define ENDED_KEPT 64
static struct {
  uint32_t id;
  char *marker;
} ended[ENDED_KEPT];
static size_t ended_next;

static void remember_ended(uint32_t id, char *marker) {
  free(ended[ended_next].marker);
  ended[ended_next].id = id;
  ended[ended_next].marker = marker;
  ended_next = (ended_next + 1) % ENDED_KEPT;
}

static char *ended_marker(uint32_t id) {
  for (size_t i = 0; i < ENDED_KEPT; i++)
    if (ended[i].marker && ended[i].id == id) return ended[i].marker;
  return NULL;
}

/* Whether /proc/<pid>/environ holds exactly `entry`. Zombies have an empty environ. */
static int carries(const char *pid, const char *entry) {
  char path[320];
  snprintf(path, sizeof path, "/proc/%s/environ", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  static char buffer[1 << 17];
  size_t length = 0;
  ssize_t n;
  while (length < sizeof buffer - 1 && (n = read(fd, buffer + length, sizeof buffer - 1 - length)) > 0) length += (size_t)n;
  close(fd);
  buffer[length] = 0;
  size_t want = strlen(entry);
  for (size_t at = 0; at < length;) {
    size_t item = strnlen(buffer + at, length - at);
    if (item == want && memcmp(buffer + at, entry, want) == 0) return 1;
    at += item + 1;
  }
  return 0;
}

/* Pids (other than ours) carrying `entry`, at most `max`; returns the count. */
static size_t scan(const char *entry, pid_t *pids, size_t max) {
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  size_t count = 0;
  pid_t self = getpid();
  struct dirent *item;
  while ((item = readdir(proc)) != NULL && count < max) {
    if (item->d_name[0] < '1' || item->d_name[0] > '9') continue;
    pid_t pid = (pid_t)atoi(item->d_name);
    if (pid == self) continue;
    if (carries(item->d_name, entry)) pids[count++] = pid;
  }
  closedir(proc);
  return count;
}

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* How long a kill waits, at most, for its killed process group to leave the process table. */
#define KILL_SETTLE_MS 2000

static long long monotonic_ms(void);

/*
 * Waits (at most KILL_SETTLE_MS) until no process of the command's group is
 * left in the process table. A process SIGKILLed a moment ago no longer shows
 * its environment while it exits, yet holds its pid until it is reaped: a
 * command started right after the kill of a fork bomb would find the pids
 * limit still full. The shell, the agent's own child, is reaped here (the
 * main loop then finishes the command as usual).
 */
static void settle_group(struct command *command) {
  long long until = monotonic_ms() + KILL_SETTLE_MS;
  for (;;) {
    if (!command->reaped) {
      int status;
      if (waitpid(command->pid, &status, WNOHANG) == command->pid) {
        command->reaped = 1;
        command->reaped_at = monotonic_ms();
        command->status = status;
      }
    }
    if (kill(-command->pid, 0) < 0 && errno == ESRCH) return;
    if (monotonic_ms() >= until) return;
    pause_ms(5);
  }
}

/*
 * Freezes and kills the process group, then, pass after pass, freezes every
 * process carrying the marker; once a pass finds nothing new, kills them all.
 * Returns 1 when a pass finds none left (once the group has left the process
 * table, see settle_group).
 */
static int kill_tree(struct command *command) {
  enum { MAX_PIDS = 65536 };
  static pid_t found[MAX_PIDS];
  /* Once the shell was reaped, its pid (the group's id) may belong to someone else: the group is left alone. */
  int group = !command->reaped;
  if (group) {
    kill(-command->pid, SIGSTOP);
    kill(-command->pid, SIGKILL);
  }
  size_t frozen = 0;
  for (int pass = 0; pass < 400; pass++) {
    size_t count = scan(command->marker, found, MAX_PIDS);
    if (count == 0) {
      if (group) settle_group(command);
      return 1;
    }
    for (size_t i = 0; i < count; i++) kill(found[i], SIGSTOP);
    if (count == frozen) {
      for (size_t i = 0; i < count; i++) kill(found[i], SIGKILL);
      pause_ms(5);
    }
    frozen = count;
  }
  return 0;
}

static void start_command(uint32_t id, const unsigned char *payload, size_t length) {
  /* Split the NUL-terminated fields (as many as there are: every env entry counts). */
  size_t most_fields = 0;
  for (size_t at = 0; at < length; at++) most_fields += payload[at] == 0;
  const char **fields = malloc((most_fields + 1) * sizeof *fields);
  if (!fields) die("malloc");
  size_t nfields = 0;
  for (size_t at = 0; at < length && nfields < most_fields;) {
    const char *field = (const char *)payload + at;
    size_t n = strnlen(field, length - at);
    if (at + n >= length) break; /* unterminated */
    fields[nfields++] = field;
    at += n + 1;
  }
  if (nfields < 3 || find(id) != NULL) {
    char message[64];
    snprintf(message, sizeof message, "%d bad run frame", EINVAL);
    send_frame(id, 'F', message, strlen(message));
    free(fields);
    return;
  }
  const char *marker = fields[0], *cwd = fields[1], *script = fields[2];
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) goto fail_errno;
  if (pipe2(err, O_CLOEXEC) < 0) {
    close(out[0]);
    close(out[1]);
    goto fail_errno;
  }
  /*
   * posix_spawn, not fork: the child shares the agent's memory until it
   * execs (no page tables copied, however much grep keeps), and posix_spawn
   * returns only once the exec happened or failed. The child: its own session
   * (and process group), no blocked signal and every signal at its default,
   * stdin /dev/null, the command's environment (the agent's, then the marker,
   * then the request's entries, later ones replacing earlier ones of a name).
   */
  size_t inherited = 0;
  while (environ[inherited]) inherited++;
  const char **environment = malloc((inherited + nfields + 1) * sizeof *environment);
  if (!environment) die("malloc");
  size_t entries = 0;
  for (char **e = environ; *e; e++) environment[entries++] = *e;
  for (size_t i = 2; i < nfields; i++) {
    const char *entry = i == 2 ? marker : fields[i];
    const char *eq = strchr(entry, '=');
    if (!eq || eq == entry) continue;
    size_t j = 0;
    while (j < entries && !(strncmp(environment[j], entry, (size_t)(eq - entry) + 1) == 0)) j++;
    if (j < entries) environment[j] = entry;
    else environment[entries++] = entry;
  }
  environment[entries] = NULL;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_t actions;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  /*
   * glibc's sigfillset leaves out its own two signals (32 and 33), and its
   * posix_spawn then sets them to SIG_IGN in the child, an ignore every
   * process the command starts inherits. Their bits set by hand: default
   * there too (the kernel's numbering, as fork then exec left them).
   */
  for (int sig = 32; sig < SIGRTMIN; sig++) all.__val[(sig - 1) / (8 * sizeof all.__val[0])] |= 1UL << ((sig - 1) % (8 * sizeof all.__val[0]));
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  if (cwd[0] != 0) posix_spawn_file_actions_addchdir_np(&actions, cwd);
  char *const argv[] = {"sh", "-c", "--", (char *)script, NULL};
  int64_t before = oom_kill_count();
  pid_t pid;
  int failed = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, (char *const *)environment);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  free(environment);
  close(out[1]);
  close(err[1]);
  if (failed != 0) {
    /* Nothing of the command ran (no such directory, no /bin/sh...): the host runs it through docker exec, which says why. */
    close(out[0]);
    close(err[0]);
    char message[64];
    snprintf(message, sizeof message, "%d posix_spawn", failed);
    send_frame(id, 'F', message, strlen(message));
    free(fields);
    return;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  if (ncommands == capcommands) {
    capcommands = capcommands ? capcommands * 2 : 16;
    commands = realloc(commands, capcommands * sizeof *commands);
    if (!commands) die("realloc");
  }
  commands[ncommands++] = (struct command){.id = id, .pid = pid, .out = out[0], .err = err[0], .oom_before = before, .marker = strdup(marker)};
  free(fields);
  return;
fail_errno: {
  char failure[64];
  snprintf(failure, sizeof failure, "%d pipe", errno);
  send_frame(id, 'F', failure, strlen(failure));
  free(fields);
}
}

/* How long output is still awaited after the shell ended (docker exec's wait for its streams). */
#define EXIT_GRACE_MS 2000

static long long monotonic_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Pipes of ended commands still held by processes they left: read and dropped until end of file. */
static int *orphans;
static size_t norphans, caporphans;

static void adopt(int fd) {
  if (fd < 0) return;
  if (norphans == caporphans) {
    caporphans = caporphans ? caporphans * 2 : 16;
    orphans = realloc(orphans, caporphans * sizeof *orphans);
    if (!orphans) die("realloc");
  }
  orphans[norphans++] = fd;
}

/* Sends 'X' and forgets the command once it was reaped and both pipes ended, or the grace after its end passed. */
static void maybe_finish(size_t index) {
  struct command *c = &commands[index];
  if (!c->reaped) return;
  if (c->out >= 0 || c->err >= 0) {
    if (monotonic_ms() - c->reaped_at < EXIT_GRACE_MS) return;
    adopt(c->out);
    adopt(c->err);
    c->out = c->err = -1;
  }
  unsigned char payload[24];
  int code = WIFSIGNALED(c->status) ? 128 + WTERMSIG(c->status) : WEXITSTATUS(c->status);
  put32(payload, (uint32_t)code);
  put64(payload + 4, c->oom_before);
  put64(payload + 12, oom_kill_count());
  put32(payload + 20, (uint32_t)c->pid);
  send_frame(c->id, 'X', payload, sizeof payload);
  remember_ended(c->id, c->marker);
  commands[index] = commands[--ncommands];
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (size_t i = 0; i < ncommands; i++) {
      if (commands[i].pid == pid && !commands[i].reaped) {
        commands[i].reaped = 1;
        commands[i].reaped_at = monotonic_ms();
        commands[i].status = status;
        maybe_finish(i);
        break;
      }
    }
  }
}

/* mkdir -p: 0 or -1 with errno. */
static int make_directories(const char *path) {
  char buffer[4096];
  size_t length = strlen(path);
  if (length == 0 || length >= sizeof buffer) {
    errno = length == 0 ? ENOENT : ENAMETOOLONG;
    return -1;
  }
  memcpy(buffer, path, length + 1);
  for (size_t i = 1; i <= length; i++) {
    if (buffer[i] != '/' && buffer[i] != 0) continue;
    char saved = buffer[i];
    buffer[i] = 0;
    if (mkdir(buffer, 0755) < 0 && errno != EEXIST) return -1;
    buffer[i] = saved;
  }
  struct stat info;
  if (stat(path, &info) < 0) return -1;
  if (!S_ISDIR(info.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

static void apply_claim(uint32_t id, const unsigned char *payload, size_t length) {
  char failure[4200];
  if (length < 5 || payload[length - 1] != 0) {
    snprintf(failure, sizeof failure, "%d bad claim frame", EINVAL);
    send_frame(id, 'c', failure, strlen(failure));
    return;
  }
  uint32_t seconds = get32(payload);
  const char *workdir = (const char *)payload + 4;
  if (workdir[0] != 0 && make_directories(workdir) < 0) {
    snprintf(failure, sizeof failure, "%d mkdir %s: %s", errno, workdir, strerror(errno));
    send_frame(id, 'c', failure, strlen(failure));
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(failure, sizeof failure, "%d fork: %s", errno, strerror(errno));
    send_frame(id, 'c', failure, strlen(failure));
    return;
  }
  if (pid == 0) {
    /* The watchdog: its own session, no pipes of ours, sleeps, then ends the sandbox. */
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    for (int fd = 3; fd < 1024; fd++) close(fd);
    signal(SIGCHLD, SIG_DFL);
    struct timespec left = {(time_t)seconds, 0};
    while (nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
    kill(1, SIGTERM);
    _exit(0);
  }
  send_frame(id, 'c', NULL, 0);
}


/* File answers ('w' / 'g'): 0 done, 1 a problem, 2 not answered here. */
static void file_answer(uint32_t id, char type, unsigned char status, const void *body, size_t length) {
  unsigned char *payload = malloc(length + 1);
  if (!payload) die("malloc");
  payload[0] = status;
  if (length > 0) memcpy(payload + 1, body, length);
  send_frame(id, type, payload, length + 1);
  free(payload);
}

/* The problem an errno names, or NULL when the host should decide (another way). */
static const char *problem_of(int error) {
  switch (error) {
    case ENOENT: return "not_found";
    case ENOTDIR: return "not_a_directory";
    case EISDIR: return "is_directory";
    case EACCES:
    case EPERM:
    case EROFS:
    case EBUSY:
    case ETXTBSY: return "permission_denied";
    case ELOOP:
    case ENAMETOOLONG: return "invalid";
    default: return NULL;
  }
}

static void file_problem(uint32_t id, char type, int error) {
  const char *problem = problem_of(error);
  if (problem) file_answer(id, type, 1, problem, strlen(problem));
  else file_answer(id, type, 2, NULL, 0);
}

/* Answers `is_directory` or `not_regular` unless `info` is a regular file; 1 when it answered. */
static int refuse_unless_regular(uint32_t id, char type, const struct stat *info) {
  if (S_ISDIR(info->st_mode)) {
    file_answer(id, type, 1, "is_directory", 12);
    return 1;
  }
  if (!S_ISREG(info->st_mode)) {
    file_answer(id, type, 1, "not_regular", 11);
    return 1;
  }
  return 0;
}

/* Whether `path` leads onto /proc, /sys or /dev (the host reads and writes those another way). */
static int on_pseudo_filesystem(const char *path) {
  char real[PATH_MAX];
  if (!realpath(path, real)) return 0;
  static const char *roots[] = {"/proc", "/sys", "/dev"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(roots[i]);
    if (strncmp(real, roots[i], n) == 0 && (real[n] == 0 || real[n] == '/')) return 1;
  }
  return 0;
}

/* The path field of a file frame (NUL-terminated, absolute), or NULL. */
static const char *file_path(const unsigned char *payload, size_t length, size_t *end) {
  size_t n = strnlen((const char *)payload, length);
  if (n == length || n == 0 || payload[0] != '/') return NULL;
  *end = n + 1;
  return (const char *)payload;
}

/* Whether a failed write ran out of room (space, quota, file size limit). */
static int out_of_room(int error) { return error == ENOSPC || error == EDQUOT || error == EFBIG; }

/* Writes all of `content` to `fd`: 0, or the errno of the write or close that failed (`fd` is closed either way). */
static int write_and_close(int fd, const unsigned char *content, size_t left) {
  while (left > 0) {
    ssize_t n = write(fd, content, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      close(fd);
      return error;
    }
    content += n;
    left -= (size_t)n;
  }
  return close(fd) < 0 ? errno : 0;
}

/*
 * Replaces the existing regular file `path` leads to (`old`: its stat) by a
 * new file with the same mode and owner, written beside it and renamed over
 * it: a write that fails leaves the old content. 1 when it answered, 0 when
 * it cannot be done so (no new file in that directory, a mount point): the
 * caller writes in place.
 */
static int replace_file(uint32_t id, const char *path, const struct stat *old, const unsigned char *content, size_t length) {
  static unsigned counter;
  char target[PATH_MAX], temporary[PATH_MAX];
  if (!realpath(path, target)) return 0;
  const char *slash = strrchr(target, '/');
  if (!slash) return 0;
  int n = snprintf(temporary, sizeof temporary, "%.*s/.%s.sandbox-agent-%d-%u", (int)(slash - target), target, slash + 1, (int)getpid(), counter++);
  if (n < 0 || (size_t)n >= sizeof temporary) return 0;
  int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  /* Owner first: chown clears set-id bits, which the mode then restores. */
  if (fchown(fd, old->st_uid, old->st_gid) < 0 || fchmod(fd, old->st_mode & 07777) < 0) {
    close(fd);
    unlink(temporary);
    return 0;
  }
  int error = write_and_close(fd, content, length);
  if (error != 0) {
    unlink(temporary);
    if (out_of_room(error)) file_answer(id, 'w', 1, "no_space", 8);
    else file_answer(id, 'w', 2, NULL, 0);
    return 1;
  }
  if (rename(temporary, target) < 0) {
    unlink(temporary);
    return 0;
  }
  file_answer(id, 'w', 0, NULL, 0);
  return 1;
}

static void write_file(uint32_t id, const unsigned char *payload, size_t length) {
  size_t at;
  const char *path = file_path(payload, length, &at);
  if (!path) {
    file_answer(id, 'w', 1, "invalid", 7);
    return;
  }
  struct stat info;
  int created = 0, plain = 0; /* plain: nothing at the path, not even a dangling symlink */
  if (stat(path, &info) == 0) {
    if (refuse_unless_regular(id, 'w', &info)) return;
  } else if (errno == ENOENT) {
    created = 1;
    struct stat link;
    if (lstat(path, &link) < 0) {
      plain = 1;
      /* Nothing there, not even a dangling symlink: create the parents, as the archive path does. */
      char parent[PATH_MAX];
      size_t n = strlen(path);
      if (n >= sizeof parent) {
        file_answer(id, 'w', 1, "invalid", 7);
        return;
      }
      memcpy(parent, path, n + 1);
      char *slash = strrchr(parent, '/');
      if (slash && slash != parent) {
        *slash = 0;
        if (make_directories(parent) < 0) {
          file_problem(id, 'w', errno);
          return;
        }
      }
    }
  } else {
    file_problem(id, 'w', errno);
    return;
  }
  if (on_pseudo_filesystem(path)) {
    file_answer(id, 'w', 2, NULL, 0);
    return;
  }
  const unsigned char *content = payload + at;
  if (!created && replace_file(id, path, &info, content, length - at)) return;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  if (fd < 0) {
    file_problem(id, 'w', errno);
    return;
  }
  if (fstat(fd, &info) < 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    file_answer(id, 'w', 1, "not_regular", 11);
    return;
  }
  if (created) fchmod(fd, 0644);
  int error = write_and_close(fd, content, length - at);
  if (error == 0) {
    file_answer(id, 'w', 0, NULL, 0);
  } else if (out_of_room(error) && plain) {
    unlink(path); /* the part of a new file that fit */
    file_answer(id, 'w', 1, "no_space", 8);
  } else {
    /* The host tries the archive path, which reports it. */
    file_answer(id, 'w', 2, NULL, 0);
  }
}

/*
 * Opens the regular file a 'G' or 'B' frame names, of at most its u32 most
 * bytes: the descriptor (`info` its fstat, `*most` the bound), or -1 once it
 * answered (with `type`) why not.
 */
static int open_for_read(uint32_t id, char type, const unsigned char *payload, size_t length, struct stat *info, uint32_t *most) {
  size_t at;
  if (length < 5) {
    file_answer(id, type, 1, "invalid", 7);
    return -1;
  }
  *most = get32(payload);
  const char *path = file_path(payload + 4, length - 4, &at);
  if (!path) {
    file_answer(id, type, 1, "invalid", 7);
    return -1;
  }
  if (stat(path, info) < 0) {
    file_problem(id, type, errno);
    return -1;
  }
  if (on_pseudo_filesystem(path)) {
    file_answer(id, type, 2, NULL, 0);
    return -1;
  }
  if (refuse_unless_regular(id, type, info)) return -1;
  if ((uint64_t)info->st_size > *most) {
    file_answer(id, type, 2, NULL, 0);
    return -1;
  }
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    file_problem(id, type, errno);
    return -1;
  }
  if (fstat(fd, info) < 0 || !S_ISREG(info->st_mode) || (uint64_t)info->st_size > *most) {
    close(fd);
    file_answer(id, type, 2, NULL, 0);
    return -1;
  }
  return fd;
}

static void read_file(uint32_t id, const unsigned char *payload, size_t length) {
  struct stat info;
  uint32_t most;
  int fd = open_for_read(id, 'g', payload, length, &info, &most);
  if (fd < 0) return;
  /* One byte more than allowed tells a file that grew past the bound. */
  size_t capacity = (size_t)most + 2;
  unsigned char *buffer = malloc(capacity);
  if (!buffer) die("malloc");
  buffer[0] = 0;
  size_t got = 0;
  int failed = 0;
  while (got <= most) {
    ssize_t n = read(fd, buffer + 1 + got, capacity - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed = 1;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got > most) failed = 1;
  close(fd);
  if (failed) file_answer(id, 'g', 2, NULL, 0);
  else send_frame(id, 'g', buffer, got + 1);
  free(buffer);
}

/* Files being streamed ('B'): one chunk each per turn of the main loop. */
struct stream {
  uint32_t id;
  int fd;
  uint64_t size, sent;
};
static struct stream *streams;
static size_t nstreams, capstreams;
#define STREAM_CHUNK (256u * 1024u)

/* A frame written with one system call where the pipe takes it whole. */
static void send_frame_with(uint32_t id, char type, const void *payload, size_t length) {
  unsigned char header[HEADER];
  put32(header, (uint32_t)length);
  put32(header + 4, id);
  header[8] = (unsigned char)type;
  struct iovec parts[2] = {{header, HEADER}, {(void *)payload, length}};
  ssize_t n;
  do n = writev(1, parts, 2);
  while (n < 0 && errno == EINTR);
  if (n < 0) _exit(0); /* the host is gone */
  if ((size_t)n < HEADER) {
    write_all(1, header + n, HEADER - (size_t)n);
    write_all(1, payload, length);
  } else if ((size_t)n < HEADER + length) {
    write_all(1, (const unsigned char *)payload + ((size_t)n - HEADER), HEADER + length - (size_t)n);
  }
}

static void stream_file(uint32_t id, const unsigned char *payload, size_t length) {
  struct stat info;
  uint32_t most;
  int fd = open_for_read(id, 'b', payload, length, &info, &most);
  if (fd < 0) return;
  if (nstreams == capstreams) {
    capstreams = capstreams ? capstreams * 2 : 4;
    streams = realloc(streams, capstreams * sizeof *streams);
    if (!streams) die("realloc");
  }
  streams[nstreams++] = (struct stream){.id = id, .fd = fd, .size = (uint64_t)info.st_size, .sent = 0};
  unsigned char start[9];
  start[0] = 3;
  put64(start + 1, (int64_t)info.st_size);
  send_frame(id, 'b', start, sizeof start);
}

/*
 * Sends the next chunk of every stream; ends a stream ('e') once its size
 * was sent and the file ended there (0), or it did not (2: it changed while
 * read, or a read failed).
 */
static void pump_streams(void) {
  static unsigned char chunk[STREAM_CHUNK];
  for (size_t i = nstreams; i-- > 0;) {
    struct stream *s = &streams[i];
    uint64_t left = s->size - s->sent;
    /* Past the size: one byte more tells a file that grew. */
    size_t want = left == 0 ? 1 : left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
    ssize_t n = read(s->fd, chunk, want);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0 && left > 0) {
      send_frame_with(s->id, 'd', chunk, (size_t)n);
      s->sent += (uint64_t)n;
      continue;
    }
    unsigned char status = n == 0 && left == 0 ? 0 : 2;
    send_frame(s->id, 'e', &status, 1);
    close(s->fd);
    streams[i] = streams[--nstreams];
  }
}

/* Most bytes of a listing answered here; a larger one is listed by a command. */
#define MAX_LISTING (512u * 1024u)
/* GNU find sorts larger directories by inode (fts): their order is left to find itself. */
#define GNU_SORT_THRESHOLD 10000

/*
 * One step of a directory walk: the next entry but `.` and `..`, with its
 * path (`directory_path` joined to its name) in `path` (PATH_MAX bytes).
 * NULL at the end, or with *give_up set where the walk is left to the
 * command: over GNU_SORT_THRESHOLD entries when `bounded` (GNU's fts may
 * sort such a directory by inode), or a path over PATH_MAX.
 */
static struct dirent *next_entry(DIR *directory, const char *directory_path, int bounded, unsigned long *seen, char *path, int *give_up) {
  size_t length = strlen(directory_path);
  int slash = length > 0 && directory_path[length - 1] == '/';
  struct dirent *item;
  while ((item = readdir(directory)) != NULL) {
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) continue;
    if (bounded && ++*seen > GNU_SORT_THRESHOLD) break;
    int n = snprintf(path, PATH_MAX, "%s%s%s", directory_path, slash ? "" : "/", item->d_name);
    if (n < 0 || n >= PATH_MAX) break;
    return item;
  }
  if (item != NULL) *give_up = 1;
  return NULL;
}

/* A new answer: its status byte (0 until set), with room to grow. */
static unsigned char *new_answer(size_t *used, size_t *capacity) {
  *capacity = 4096;
  unsigned char *out = malloc(*capacity);
  if (!out) die("malloc");
  out[0] = 0;
  *used = 1;
  return out;
}

static void list_directory(uint32_t id, const unsigned char *payload, size_t length) {
  size_t at;
  if (length < 3 || (payload[0] != 'b' && payload[0] != 'g')) {
    file_answer(id, 'l', 2, NULL, 0);
    return;
  }
  int gnu = payload[0] == 'g';
  const char *root = file_path(payload + 1, length - 1, &at);
  if (!root) {
    file_answer(id, 'l', 2, NULL, 0);
    return;
  }
  struct stat info;
  DIR *directory = NULL;
  /* find lists nothing but the root itself (excluded) when it is not a directory or cannot be read. */
  if (stat(root, &info) == 0 && S_ISDIR(info.st_mode)) directory = opendir(root);
  size_t used, capacity;
  unsigned char *out = new_answer(&used, &capacity);
  int fallback = 0;
  unsigned long seen = 0;
  char path[PATH_MAX];
  while (directory && !fallback && next_entry(directory, root, gnu, &seen, path, &fallback) != NULL) {
    if (fnmatch(root, path, 0) == 0) continue; /* -not -path <root> */
    struct stat own, target;
    int has_own = lstat(path, &own) == 0;
    int has_target = stat(path, &target) == 0;
    struct stat *shown;
    int is_dir;
    if (gnu) {
      if (!has_target && !has_own) continue;
      shown = has_target ? &target : &own;
      is_dir = S_ISDIR(shown->st_mode);
    } else {
      if (!has_own) continue;
      shown = &own;
      is_dir = has_target && S_ISDIR(target.st_mode);
    }
    char line[PATH_MAX + 64];
    int w = snprintf(line, sizeof line, "%lld\t%lld\t%c\t%s\n", (long long)shown->st_size, (long long)shown->st_mtime, is_dir ? 'd' : 'f', path);
    if (w < 0 || (size_t)w >= sizeof line || used + (size_t)w > MAX_LISTING) {
      fallback = 1;
      break;
    }
    if (used + (size_t)w > capacity) {
      while (used + (size_t)w > capacity) capacity *= 2;
      out = realloc(out, capacity);
      if (!out) die("realloc");
    }
    memcpy(out + used, line, (size_t)w);
    used += (size_t)w;
  }
  if (directory) closedir(directory);
  if (fallback) file_answer(id, 'l', 2, NULL, 0);
  else send_frame(id, 'l', out, used);
  free(out);
}

#define MAX_TREE_ENTRIES 50000u

struct tree {
  int gnu;
  const char *root;
  const char *name; /* NULL: every entry */
  char prune[8][PATH_MAX];
  unsigned char *out;
  size_t used, capacity;
  unsigned long entries, bytes;
  int fallback;
  dev_t devs[256];
  ino_t inos[256];
  int depth;
};

static void tree_put(struct tree *t, const char *text, size_t n) {
  if (t->used + n > MAX_LISTING) {
    t->fallback = 1;
    return;
  }
  if (t->used + n > t->capacity) {
    while (t->used + n > t->capacity) t->capacity *= 2;
    t->out = realloc(t->out, t->capacity);
    if (!t->out) die("realloc");
  }
  memcpy(t->out + t->used, text, n);
  t->used += n;
}

static int tree_pruned(struct tree *t, const char *path) {
  for (int i = 0; i < 8; i++)
    if (fnmatch(t->prune[i], path, 0) == 0) return 1;
  return 0;
}

/* One directory's entries, in readdir order, each before what is under it (as find visits them). */
static void tree_walk(struct tree *t, const char *directory_path, const struct stat *directory_info) {
  if (t->fallback) return;
  if (t->depth >= 256) {
    t->fallback = 1;
    return;
  }
  for (int i = 0; i < t->depth; i++) {
    if (t->devs[i] == directory_info->st_dev && t->inos[i] == directory_info->st_ino) {
      t->fallback = 1; /* a symlink loop: find's handling is left to find */
      return;
    }
  }
  t->devs[t->depth] = directory_info->st_dev;
  t->inos[t->depth] = directory_info->st_ino;
  t->depth++;
  DIR *directory = opendir(directory_path);
  unsigned long seen = 0;
  char path[PATH_MAX];
  struct dirent *item;
  while (directory && !t->fallback && (item = next_entry(directory, directory_path, t->gnu, &seen, path, &t->fallback)) != NULL) {
    if (tree_pruned(t, path)) continue;
    int listed = fnmatch(t->root, path, 0) != 0; /* -not -path <root> */
    int named = t->name == NULL || fnmatch(t->name, item->d_name, 0) == 0;
    struct stat own, target;
    int has_own, has_target;
    if (item->d_type == DT_REG || item->d_type == DT_DIR) {
      /* Not a symlink: its own stat is its target's, and a file the pattern drops needs none (it is only counted). */
      has_own = has_target = 1;
      own.st_mode = item->d_type == DT_DIR ? S_IFDIR : S_IFREG;
      if (item->d_type == DT_DIR || (listed && named)) {
        if (fstatat(dirfd(directory), item->d_name, &own, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(own.st_mode) != (item->d_type == DT_DIR)) {
          t->fallback = 1; /* changed under us */
          break;
        }
      }
      target = own;
    } else {
      has_own = lstat(path, &own) == 0;
      has_target = stat(path, &target) == 0;
    }
    if (listed && (has_own || has_target)) {
      if (++t->entries > MAX_TREE_ENTRIES) {
        t->fallback = 1;
        break;
      }
      t->bytes += (unsigned long)strlen(path) + 46; /* as the glob command's awk counts: the path and the most the other fields take */
      if (named) {
        const struct stat *shown = t->gnu ? (has_target ? &target : &own) : &own;
        int is_dir = t->gnu ? S_ISDIR(shown->st_mode) : (has_target && S_ISDIR(target.st_mode));
        if (t->gnu || has_own) {
          char line[PATH_MAX + 64];
          int w = snprintf(line, sizeof line, "%lld\t%lld\t%c\t%s\n", (long long)shown->st_size, (long long)shown->st_mtime, is_dir ? 'd' : 'f', path);
          if (w < 0 || (size_t)w >= sizeof line) t->fallback = 1;
          else tree_put(t, line, (size_t)w);
        }
      }
    }
    if (has_target && S_ISDIR(target.st_mode)) tree_walk(t, path, &target);
  }
  if (directory) closedir(directory);
  t->depth--;
}

static void list_tree(uint32_t id, const unsigned char *payload, size_t length) {
  size_t at, at2;
  if (length < 4 || (payload[0] != 'b' && payload[0] != 'g')) {
    file_answer(id, 't', 2, NULL, 0);
    return;
  }
  const char *root = file_path(payload + 1, length - 1, &at);
  if (!root || 1 + at >= length) {
    file_answer(id, 't', 2, NULL, 0);
    return;
  }
  const char *name = (const char *)payload + 1 + at;
  at2 = strnlen(name, length - 1 - at);
  if (at2 == length - 1 - at) {
    file_answer(id, 't', 2, NULL, 0);
    return;
  }
  static struct tree t;
  memset(&t, 0, sizeof t);
  t.gnu = payload[0] == 'g';
  t.root = root;
  t.name = name[0] ? name : NULL;
  static const char *pseudo[] = {"/proc", "/sys", "/dev", "/run"};
  for (int i = 0; i < 4; i++) {
    snprintf(t.prune[i], PATH_MAX, "%s", pseudo[i]);
    if (snprintf(t.prune[4 + i], PATH_MAX, "%s%s", root, pseudo[i]) >= PATH_MAX) {
      file_answer(id, 't', 2, NULL, 0);
      return;
    }
  }
  t.out = new_answer(&t.used, &t.capacity);
  struct stat info;
  /* The root itself is pruned or excluded (-not -path); find descends into it when it leads to a directory. */
  if (!tree_pruned(&t, root) && stat(root, &info) == 0 && S_ISDIR(info.st_mode)) tree_walk(&t, root, &info);
  if (!t.fallback) {
    char trailer[64];
    int w = snprintf(trailer, sizeof trailer, "\003%lu\t%lu\n", t.entries, t.bytes);
    tree_put(&t, trailer, (size_t)w);
  }
  if (t.fallback) file_answer(id, 't', 2, NULL, 0);
  else send_frame(id, 't', t.out, t.used);
  free(t.out);
}

/* Most bytes of output a search answers here, most bytes it reads, most of one file (up to 4 threads hold one each: the agent stays small in a sandbox with little memory), most files it opens. */
#define MAX_SEARCH_OUTPUT (8u * 1024u * 1024u)
#define MAX_SEARCH_READ (256ull * 1024u * 1024u)
#define MAX_SEARCH_FILE (4u * 1024u * 1024u)
#define MAX_SEARCH_FILES 50000u

/* Files read in one batch (through one io_uring call per step), most bytes read of a file in one go, most threads that read. */
#define RING_BATCH 256
#define RING_READ 8192
#define MAX_WORKERS 4

/* Directories a search keeps open, so that opening each file looks up its name only. */
#define MAX_KEPT_DIRECTORIES 1024

/* A file to grep: its path as output names it, opened as `name` in `at` (a kept directory, or AT_FDCWD with the path). */
struct queued {
  char *path;
  int at;
  size_t name;  /* offset of the name in `path` */
  int keepable; /* met in a walked directory on a disk file system: its content may be kept (see the kept files below) */
  dev_t device; /* that directory's device: a file mounted over an entry is not kept */
};

struct search {
  int gnu;
  int eight_bit; /* bytes over 0x7f are text to this grep */
  const char *pattern;
  size_t pattern_length;
  const char *glob; /* NULL: grep -r */
  size_t most;      /* bytes of output kept (the command's output cap) */
  unsigned char *out;
  size_t used, capacity;
  int full, fallback;
  /* The files to grep, in the order the command greps them, RING_BATCH to a batch: read while the walk goes on. */
  struct batch *batches[MAX_SEARCH_FILES / RING_BATCH + 1];
  size_t files;     /* queued by the walk */
  size_t published; /* of those, the ones the workers may read (atomic) */
  int walked;       /* the walk is over: `published` is all (atomic) */
  size_t next;      /* the next batch a worker takes (atomic) */
  int stop;         /* a file's answer is the command's: the rest need not be read (atomic) */
  pthread_t helpers[MAX_WORKERS];
  struct worker *workers; /* MAX_WORKERS of them */
  int helping;      /* helper threads started */
  int directories[MAX_KEPT_DIRECTORIES]; /* open directories the queued files are opened in */
  int kept;
  unsigned long long read; /* bytes read so far (by every worker) */
  int keeping;             /* kept contents may be used and stored in this search */
  int from_root;           /* a search of "/": as core's prunedGrepCommand (no /proc, /sys, /dev, /run; regular files only) */
  long long started;       /* CLOCK_REALTIME (ns) before anything was looked at */
  dev_t devs[256];
  ino_t inos[256];
  int depth;
};

static void search_put(struct search *s, const void *text, size_t n) {
  if (s->full || s->fallback) return;
  size_t room = s->most - s->used;
  if (n > room) {
    n = room;
    s->full = 1; /* the command's output is cut here: nothing after it changes the answer */
  }
  if (s->used + n > s->capacity) {
    while (s->used + n > s->capacity) s->capacity *= 2;
    s->out = realloc(s->out, s->capacity);
    if (!s->out) die("realloc");
  }
  memcpy(s->out + s->used, text, n);
  s->used += n;
}

/*
 * Whether a directory is on a file system whose files read like files on
 * disk (not /proc, /sys, cgroups...): 0 no, 1 a disk file system, 2 one in
 * memory (tmpfs, ramfs: a write through a shared mapping there changes no
 * timestamp, so their files' contents are never kept).
 */
static int plain_file_system(const char *path) {
  struct statfs info;
  if (statfs(path, &info) < 0) return 0;
  switch ((unsigned long)info.f_type) {
    case 0x01021994UL: /* tmpfs */
    case 0x858458f6UL: /* ramfs */
      return 2;
    case 0xEF53UL:     /* ext2/3/4 */
    case 0x794c7630UL: /* overlayfs */
    case 0x58465342UL: /* xfs */
    case 0x9123683eUL: /* btrfs */
    case 0x2fc12fc1UL: /* zfs */
    case 0xf2f52010UL: /* f2fs */
    case 0x73717368UL: /* squashfs */
      return 1;
    default:
      return 0;
  }
}

static struct queued *next_queued(struct search *s);
static void publish(struct search *s);

/* The file the command would grep next (`at`: its directory, or AT_FDCWD); workers read full batches while the walk goes on. */
static void search_file(struct search *s, int at, const char *path, int keepable, dev_t device) {
  if (s->full || s->fallback) return;
  if (s->files >= MAX_SEARCH_FILES) {
    s->fallback = 1;
    return;
  }
  char *copy = strdup(path);
  if (!copy) die("strdup");
  const char *slash = strrchr(copy, '/');
  *next_queued(s) = (struct queued){copy, at, at == AT_FDCWD || !slash ? 0 : (size_t)(slash + 1 - copy), keepable && at != AT_FDCWD, device};
  s->files++;
  if (s->files % RING_BATCH == 0) publish(s);
}

/*
 * Kept files. Reading 3000 small files costs the kernel ~20 ms here (an
 * open, a read and a close each, on cold caches after the agent idled); a
 * stat costs a third of that. So grep keeps what it read of small files and,
 * next time, reads again only files whose device, inode, size, modification
 * or change time differ. A write changes the change time (which no caller can
 * set), so a kept content is used only where it cannot be stale:
 * - it was kept only if its change and modification times were more than a
 *   second older than the search that read it (a second write within the same
 *   clock tick as the one stat saw would leave the times as they were);
 * - the stat comes before the read (a write between them makes the kept stat
 *   older than the content, so it differs next time, never the reverse);
 * - a write through a shared mapping changes the times only when the page is
 *   first written after being clean: no kept content is used or stored while a
 *   process in the sandbox maps any file shared and writable (read from
 *   /proc/<pid>/maps before each search; any doubt reads everything);
 * - never on tmpfs or ramfs (no timestamp at all for writes through a
 *   mapping), never a file reached through a symbolic link or mounted over
 *   a directory's entry.
 * At most CACHE_MOST bytes (a 32nd of the sandbox's memory limit where that
 * is less), counting each file's record and path with its content (50 000
 * empty files cost ~6 MB), files up to CACHE_FILE_MOST.
 */
#define CACHE_MOST (16u * 1024u * 1024u)
#define CACHE_FILE_MOST (256u * 1024u)
#define CACHE_BUCKETS 16384u
#define CACHE_SETTLED_NS 1000000000LL

struct identity {
  dev_t device;
  ino_t inode;
  long long size, modified, changed; /* times in ns */
  mode_t mode;
};

struct kept {
  struct kept *next;
  char *path;
  struct identity identity;
  unsigned long generation; /* the last search that used or stored it */
  size_t charged;           /* what it costs the agent's memory: content, this record, the path, the allocator's share */
  size_t length;
  unsigned char content[];
};

static struct kept *kept_files[CACHE_BUCKETS];
static size_t kept_bytes; /* the sum of the kept files' `charged`, not only their contents: an empty file costs too */
static unsigned long kept_generation;

static unsigned kept_bucket(const char *path) {
  uint32_t hash = 2166136261u;
  for (const unsigned char *c = (const unsigned char *)path; *c; c++) hash = (hash ^ *c) * 16777619u;
  return hash % CACHE_BUCKETS;
}

static struct kept *kept_find(const char *path) {
  for (struct kept *k = kept_files[kept_bucket(path)]; k; k = k->next)
    if (strcmp(k->path, path) == 0) return k;
  return NULL;
}

static int same_identity(const struct identity *a, const struct identity *b) {
  return a->device == b->device && a->inode == b->inode && a->size == b->size && a->modified == b->modified && a->changed == b->changed &&
         a->mode == b->mode;
}

static void kept_drop(const char *path) {
  struct kept **at = &kept_files[kept_bucket(path)];
  for (; *at; at = &(*at)->next) {
    if (strcmp((*at)->path, path) == 0) {
      struct kept *gone = *at;
      *at = gone->next;
      kept_bytes -= gone->charged;
      free(gone->path);
      free(gone);
      return;
    }
  }
}

/* Drops every kept file the current search did not use: they may be gone, and make room. */
static void kept_sweep(void) {
  for (unsigned b = 0; b < CACHE_BUCKETS; b++) {
    struct kept **at = &kept_files[b];
    while (*at) {
      struct kept *k = *at;
      if (k->generation == kept_generation) {
        at = &k->next;
        continue;
      }
      *at = k->next;
      kept_bytes -= k->charged;
      free(k->path);
      free(k);
    }
  }
}

/* Most bytes of content kept: CACHE_MOST, or a 32nd of the cgroup's memory limit (v2, then v1) where that is less. */
static size_t kept_most(void) {
  static size_t most;
  if (most) return most;
  most = CACHE_MOST;
  static const char *files[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
  for (int i = 0; i < 2; i++) {
    FILE *file = fopen(files[i], "re");
    if (!file) continue;
    unsigned long long limit = 0;
    int read = fscanf(file, "%llu", &limit);
    fclose(file);
    if (read == 1 && limit > 0 && limit / 32 < most) most = (size_t)(limit / 32);
    break;
  }
  return most;
}

/* Keeps a file's content (called by the search's own thread once its workers are done). */
static void kept_store(const char *path, const struct identity *identity, struct kept *content) {
  kept_drop(path);
  content->charged = sizeof *content + content->length + strlen(path) + 1 + 2 * 16;
  if (kept_bytes + content->charged > kept_most()) kept_sweep();
  if (kept_bytes + content->charged > kept_most()) {
    free(content);
    return;
  }
  content->path = strdup(path);
  if (!content->path) die("strdup");
  content->identity = *identity;
  content->generation = kept_generation;
  unsigned bucket = kept_bucket(path);
  content->next = kept_files[bucket];
  kept_files[bucket] = content;
  kept_bytes += content->charged;
}

static long long nanoseconds(long long seconds, long long fraction) {
  return seconds * 1000000000LL + fraction;
}

/*
 * Whether a file a process maps shared and writable (its path as
 * /proc/<pid>/maps shows it, changed in place) may be one whose content is
 * kept: not a memfd or SysV segment, not on a file system whose files are
 * never kept (tmpfs, ramfs, /dev's devices, pseudo-filesystems). Told by the
 * file system the path is on, not by its name: a volume mounted under /dev
 * is a disk like any other. A deleted file (it may have another link) is
 * told by its directory's; what cannot be told counts.
 */
static int mapping_may_be_kept(char *name) {
  if (strncmp(name, "/memfd:", 7) == 0 || strncmp(name, "/SYSV", 5) == 0) return 0;
  static const char deleted[] = " (deleted)";
  size_t n = strlen(name), d = sizeof deleted - 1;
  if (n > d && strcmp(name + n - d, deleted) == 0) name[n - d] = 0;
  struct statfs info;
  if (statfs(name, &info) < 0) {
    char *slash = strrchr(name, '/');
    if (!slash || slash == name) return 1;
    *slash = 0;
    if (statfs(name, &info) < 0) return 1;
  }
  return plain_file_system(name) == 1;
}

/* Whether any process in the sandbox maps a file shared and writable (1 also when that cannot be told). */
static int files_mapped_writable(void) {
  DIR *proc = opendir("/proc");
  if (!proc) return 1;
  static char buffer[65536];
  int found = 0;
  struct dirent *item;
  while (!found && (item = readdir(proc)) != NULL) {
    if (item->d_name[0] < '1' || item->d_name[0] > '9') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/maps", item->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT && errno != ESRCH) found = 1; /* not ours to read: cannot tell */
      continue;
    }
    size_t held = 0;
    for (;;) {
      ssize_t n = read(fd, buffer + held, sizeof buffer - 1 - held);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (errno != ESRCH) found = 1;
        break;
      }
      held += (size_t)n;
      buffer[held] = 0;
      char *line = buffer, *newline;
      while ((newline = strchr(line, '\n')) != NULL) {
        *newline = 0;
        /* "start-end perms offset dev inode   path": shared (s) and writable (w), a file with a path. */
        char *perms = strchr(line, ' ');
        if (perms && strlen(perms) > 5 && perms[2] == 'w' && perms[4] == 's') {
          char *name = strchr(perms, '/');
          if (name && mapping_may_be_kept(name)) found = 1;
        }
        line = newline + 1;
      }
      held = (size_t)(buffer + held - line);
      memmove(buffer, line, held);
      if (n == 0 || found) break;
      if (held >= sizeof buffer - 1) {
        found = 1; /* a line longer than the buffer: cannot tell */
        break;
      }
    }
    close(fd);
  }
  closedir(proc);
  return found;
}

/* What grepping one file printed, or that the agent leaves the search to the command. */
struct found {
  unsigned char *out;
  size_t used, capacity;
  int fallback;
  int stated;              /* `identity` holds what stat said before the file was read */
  struct identity identity;
  const struct kept *hit;  /* its kept content, still the file's */
  struct kept *keep;       /* its content, to keep */
  int stale;               /* the kept content is not the file's any more */
};

struct batch {
  struct queued files[RING_BATCH];
  struct found found[RING_BATCH];
};

static struct queued *next_queued(struct search *s) {
  size_t index = s->files / RING_BATCH;
  if (s->files % RING_BATCH == 0) {
    s->batches[index] = calloc(1, sizeof(struct batch));
    if (!s->batches[index]) die("calloc");
  }
  return &s->batches[index]->files[s->files % RING_BATCH];
}

static void identity_from_stat(struct identity *identity, const struct stat *info) {
  *identity = (struct identity){info->st_dev, info->st_ino, (long long)info->st_size, nanoseconds(info->st_mtim.tv_sec, info->st_mtim.tv_nsec),
                                nanoseconds(info->st_ctim.tv_sec, info->st_ctim.tv_nsec), info->st_mode};
}

/* After stat: the kept content when it is still the file's. Read-only on the kept files (workers run at once). */
static void use_kept(const struct queued *file, struct found *f) {
  if (!f->stated) return;
  const struct kept *k = kept_find(file->path);
  if (!k) return;
  if (same_identity(&k->identity, &f->identity)) f->hit = k;
  else f->stale = 1;
}

/* After a whole file was read: a copy to keep, where that cannot be stale (see above). */
static void offer_kept(const struct search *s, const struct queued *file, struct found *f, const unsigned char *content, size_t length) {
  const struct identity *i = &f->identity;
  if (!s->keeping || !file->keepable || !f->stated || !S_ISREG(i->mode) || i->device != file->device || i->size != (long long)length ||
      length > CACHE_FILE_MOST || i->changed + CACHE_SETTLED_NS >= s->started || i->modified + CACHE_SETTLED_NS >= s->started)
    return;
  struct kept *k = malloc(sizeof *k + length);
  if (!k) return;
  memcpy(k->content, content, length);
  k->length = length;
  f->keep = k;
}

static void found_put(struct found *f, const void *text, size_t n) {
  if (f->used + n > f->capacity) {
    while (f->used + n > f->capacity) f->capacity = f->capacity ? f->capacity * 2 : 256;
    f->out = realloc(f->out, f->capacity);
    if (!f->out) die("realloc");
  }
  memcpy(f->out + f->used, text, n);
  f->used += n;
}

/*
 * Greps one regular file as `grep -HnF`: "path:line:text\n" per matching
 * line. A short read is the end of a regular file on the file systems
 * searched here. Runs on several threads at once: touches nothing shared but
 * the read counter.
 */
static void match_content(struct search *s, const char *path, const unsigned char *buffer, size_t length, struct found *f);

/* Before a file whose content may be kept is read: what stat says of it, and its kept content when that is still the file's. */
static void stat_file(struct search *s, const struct queued *file, struct found *f) {
  if (!s->keeping || !file->keepable || f->stated) return;
  struct stat info;
  if (fstatat(file->at, file->path + file->name, &info, 0) < 0) return;
  identity_from_stat(&f->identity, &info);
  f->stated = 1;
  use_kept(file, f);
}

static void grep_file(struct search *s, const struct queued *file, struct found *f) {
  const char *path = file->path;
  stat_file(s, file, f);
  if (f->hit) {
    match_content(s, path, f->hit->content, f->hit->length, f);
    return;
  }
  int fd = openat(file->at, path + file->name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return; /* grep says so on stderr, which the command drops */
  unsigned char first[16384];
  unsigned char *buffer = first;
  size_t capacity = sizeof first, length = 0;
  for (;;) {
    ssize_t n = read(fd, buffer + length, capacity - length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      f->fallback = 1; /* EAGAIN: not a regular file after all */
      break;
    }
    length += (size_t)n;
    if (length < capacity) break;
    if (capacity >= MAX_SEARCH_FILE) {
      f->fallback = 1;
      break;
    }
    unsigned char *larger = malloc(capacity * 2);
    if (!larger) die("malloc");
    memcpy(larger, buffer, length);
    if (buffer != first) free(buffer);
    buffer = larger;
    capacity *= 2;
  }
  close(fd);
  match_content(s, path, buffer, length, f);
  if (!f->fallback) offer_kept(s, file, f, buffer, length);
  if (buffer != first) free(buffer);
}

/* Matches a file's content (all of it) as `grep -HnF` does, into `f`. */
static void match_content(struct search *s, const char *path, const unsigned char *buffer, size_t length, struct found *f) {
  if (__atomic_add_fetch(&s->read, (unsigned long long)length, __ATOMIC_RELAXED) > MAX_SEARCH_READ) f->fallback = 1;
  const unsigned char *end = buffer + length;
  const unsigned char *hit = f->fallback ? NULL : memmem(buffer, length, s->pattern, s->pattern_length);
  if (hit) {
    /* Binary files: BusyBox matches up to a NUL only, GNU reports "binary file matches"; GNU outside the C locale may take other bytes so too. */
    int binary = memchr(buffer, 0, length) != NULL;
    for (size_t i = 0; !s->eight_bit && !binary && i < length; i++) binary = buffer[i] >= 0x80;
    if (binary) {
      f->fallback = 1;
      hit = NULL;
    }
  }
  const unsigned char *line = buffer; /* start of line number `number` */
  unsigned long number = 1;
  size_t path_length = strlen(path);
  while (hit) {
    for (;;) {
      const unsigned char *newline = memchr(line, '\n', (size_t)(hit - line));
      if (!newline) break;
      line = newline + 1;
      number++;
    }
    const unsigned char *stop = memchr(hit, '\n', (size_t)(end - hit));
    if (!stop) stop = end;
    char prefix[32];
    int w = snprintf(prefix, sizeof prefix, ":%lu:", number);
    found_put(f, path, path_length);
    found_put(f, prefix, (size_t)w);
    found_put(f, line, (size_t)(stop - line));
    found_put(f, "\n", 1);
    if (stop == end || f->used > s->most) break; /* past the cap, the rest is cut anyway */
    line = stop + 1;
    number++;
    hit = memmem(line, (size_t)(end - line), s->pattern, s->pattern_length);
  }
}

/*
 * io_uring, where the kernel and the sandbox's seccomp profile allow it: a
 * system call costs more than a microsecond on some machines (page table
 * isolation), and a small file takes three (open, read, close). A batch of
 * opens, then of reads, then of closes goes in one call each.
 */

struct ring {
  int fd; /* 0: not set up yet; -1: unavailable */
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  unsigned char (*buffers)[RING_READ];
};

/* One ring per worker, set up on first use, kept for the agent's life. */
static struct ring rings[MAX_WORKERS];

static int ring_ready(struct ring *r) {
  if (r->fd != 0) return r->fd > 0;
  r->fd = -1;
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  int fd = (int)syscall(__NR_io_uring_setup, RING_BATCH, &params);
  if (fd < 0) return 0;
  size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  size_t size = sq_size > cq_size ? sq_size : cq_size;
  char *mapped = (params.features & IORING_FEAT_SINGLE_MMAP) ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING) : MAP_FAILED;
  void *sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  void *buffers = malloc((size_t)RING_BATCH * RING_READ);
  if (mapped == MAP_FAILED || sqes == MAP_FAILED || !buffers || params.sq_entries < RING_BATCH || params.cq_entries < RING_BATCH) {
    close(fd);
    free(buffers);
    return 0;
  }
  r->sq_tail = (unsigned *)(mapped + params.sq_off.tail);
  r->sq_mask = (unsigned *)(mapped + params.sq_off.ring_mask);
  r->sq_array = (unsigned *)(mapped + params.sq_off.array);
  r->cq_head = (unsigned *)(mapped + params.cq_off.head);
  r->cq_tail = (unsigned *)(mapped + params.cq_off.tail);
  r->cq_mask = (unsigned *)(mapped + params.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(mapped + params.cq_off.cqes);
  r->sqes = sqes;
  r->buffers = buffers;
  r->fd = fd;
  return 1;
}

static struct io_uring_sqe *ring_entry(struct ring *r, unsigned long data) {
  unsigned tail = *r->sq_tail, index = tail & *r->sq_mask;
  struct io_uring_sqe *entry = &r->sqes[index];
  memset(entry, 0, sizeof *entry);
  entry->user_data = data;
  r->sq_array[index] = index;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  return entry;
}

/* Submits `count` entries, waits for their completions and stores each result by its data; 0, or -1 (the ring is given up for good). */
static int ring_run(struct ring *r, unsigned count, int *results) {
  unsigned done = 0, submitted = 0;
  while (done < count) {
    long entered = syscall(__NR_io_uring_enter, r->fd, count - submitted, count - done, IORING_ENTER_GETEVENTS, NULL, 0);
    if (entered < 0 && errno != EINTR) {
      close(r->fd); /* entries may be left in it */
      r->fd = -1;
      return -1;
    }
    if (entered > 0) submitted += (unsigned)entered;
    unsigned head = *r->cq_head;
    while (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
      struct io_uring_cqe *completion = &r->cqes[head & *r->cq_mask];
      results[completion->user_data] = completion->res;
      head++;
      done++;
    }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
  }
  return 0;
}

/*
 * Greps `count` queued files from `first` through the ring: 0, or -1 when
 * the ring failed (its files are left undone: the caller greps them the
 * plain way). A file that fills the read buffer, or whose pages the ring
 * would have to wait for, is read again the plain way.
 */
static int grep_batch_ring(struct search *s, struct batch *b, struct ring *r, unsigned count) {
  struct found *found = b->found;
  int opened[RING_BATCH], got[RING_BATCH], closed[RING_BATCH];
  unsigned opens = 0;
  /*
   * Files whose content may be kept are stat'ed first (a plain call: the ring
   * hands every statx to a kernel worker thread, which costs more): those
   * whose kept content is still theirs are not read.
   */
  for (unsigned i = 0; i < count; i++) stat_file(s, &b->files[i], &found[i]);
  for (unsigned i = 0; i < count; i++) {
    opened[i] = -ENOENT;
    if (found[i].hit) continue;
    const struct queued *file = &b->files[i];
    struct io_uring_sqe *entry = ring_entry(r, i);
    entry->opcode = IORING_OP_OPENAT;
    entry->fd = file->at;
    entry->addr = (unsigned long)(file->path + file->name);
    entry->open_flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    opens++;
  }
  if (opens > 0 && ring_run(r, opens, opened) < 0) return -1; /* any file it opened stays open: a few descriptors, once */
  unsigned reads = 0, closes = 0;
  for (unsigned i = 0; i < count; i++) {
    got[i] = -EAGAIN;
    if (opened[i] < 0) continue; /* grep says so on stderr, which the command drops */
    struct io_uring_sqe *entry = ring_entry(r, i);
    entry->opcode = IORING_OP_READ;
    entry->fd = opened[i];
    entry->addr = (unsigned long)r->buffers[i];
    entry->len = RING_READ;
    entry->off = 0;
    reads++;
  }
  int failed = reads > 0 && ring_run(r, reads, got) < 0;
  if (!failed) {
    for (unsigned i = 0; i < count; i++) {
      if (opened[i] < 0) continue;
      struct io_uring_sqe *entry = ring_entry(r, i);
      entry->opcode = IORING_OP_CLOSE;
      entry->fd = opened[i];
      closes++;
    }
    failed = closes > 0 && ring_run(r, closes, closed) < 0;
  }
  if (failed) {
    for (unsigned i = 0; i < count; i++)
      if (opened[i] >= 0) close(opened[i]);
    return -1;
  }
  for (unsigned i = 0; i < count; i++) {
    struct found *f = &found[i];
    const struct queued *file = &b->files[i];
    if (f->hit) {
      match_content(s, file->path, f->hit->content, f->hit->length, f);
      continue;
    }
    if (opened[i] < 0) continue;
    if (got[i] == -EAGAIN || got[i] == RING_READ) {
      grep_file(s, file, f);
    } else if (got[i] < 0) {
      f->fallback = 1;
    } else {
      match_content(s, file->path, r->buffers[i], (size_t)got[i], f);
      if (!f->fallback) offer_kept(s, file, f, r->buffers[i], (size_t)got[i]);
    }
  }
  return 0;
}

/*
 * A reader of the search's files: takes the next batch no worker took, waits
 * until the walk has queued it whole (or is over), reads it. The first full
 * batch starts the helpers, so a large tree is read while it is walked (and
 * the other processors are awake by the time the walk ends).
 */
struct worker {
  struct search *s;
  struct ring *ring; /* its own */
};

static void *grep_worker(void *argument) {
  const struct worker *worker = argument;
  struct search *s = worker->s;
  struct ring *ring = worker->ring;
  for (;;) {
    size_t batch = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED), first = batch * RING_BATCH, ready;
    for (unsigned spins = 0;; spins++) {
      if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) return NULL;
      int walked = __atomic_load_n(&s->walked, __ATOMIC_ACQUIRE);
      ready = __atomic_load_n(&s->published, __ATOMIC_ACQUIRE);
      if (ready >= first + RING_BATCH || walked) break;
      if (spins < 2000) {
        sched_yield();
      } else {
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
      }
    }
    if (first >= ready) return NULL;
    unsigned count = ready - first < RING_BATCH ? (unsigned)(ready - first) : RING_BATCH;
    struct batch *b = s->batches[batch];
    if (!(ring_ready(ring) && grep_batch_ring(s, b, ring, count) == 0)) {
      for (unsigned i = 0; i < count; i++) grep_file(s, &b->files[i], &b->found[i]);
    }
    for (unsigned i = 0; i < count; i++)
      if (b->found[i].fallback) __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
  }
}

/* A full batch is queued: the workers may read it (the first one starts the helpers). */
static void publish(struct search *s) {
  __atomic_store_n(&s->published, s->files, __ATOMIC_RELEASE);
  if (s->files != RING_BATCH) return;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = cpus < 2 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
  for (int i = 1; i < threads; i++) {
    s->workers[i] = (struct worker){s, &rings[i]};
    if (pthread_create(&s->helpers[s->helping], NULL, grep_worker, &s->workers[i]) == 0) s->helping++;
  }
}

/*
 * Greps the queued files, batch by batch on up to 4 threads (opening and
 * reading a file costs the kernel far more than matching it), each through
 * its io_uring where there is one; the files' outputs are joined in the
 * queue's order, then put as the command would print them.
 */
static void grep_queue(struct search *s) {
  __atomic_store_n(&s->published, s->files, __ATOMIC_RELEASE);
  __atomic_store_n(&s->walked, 1, __ATOMIC_RELEASE);
  if (s->fallback) __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
  s->workers[0] = (struct worker){s, &rings[0]};
  if (!s->fallback) grep_worker(&s->workers[0]);
  for (int i = 0; i < s->helping; i++) pthread_join(s->helpers[i], NULL);
  /*
   * The kept files, now that no worker reads them: first every content this
   * search used is marked as used, so that making room for a new one (which
   * drops the unused) never frees one of them, then the new ones are stored.
   */
  for (size_t i = 0; i < s->files; i++) {
    struct found *f = &s->batches[i / RING_BATCH]->found[i % RING_BATCH];
    if (f->hit) ((struct kept *)f->hit)->generation = kept_generation;
  }
  for (size_t i = 0; i < s->files; i++) {
    struct batch *b = s->batches[i / RING_BATCH];
    struct found *f = &b->found[i % RING_BATCH];
    const char *path = b->files[i % RING_BATCH].path;
    if (f->fallback) s->fallback = 1;
    if (!s->fallback && !s->full) search_put(s, f->out, f->used);
    free(f->out);
    if (f->keep) kept_store(path, &f->identity, f->keep);
    else if (f->stale) kept_drop(path);
  }
}

/* Enters a directory (as both walks do): 1 on a disk file system, 2 in memory, or -1 when the agent leaves the search to the command. */
static int search_enter(struct search *s, const char *path, const struct stat *info) {
  int kind = s->depth >= 256 ? 0 : plain_file_system(path);
  if (kind == 0) {
    s->fallback = 1;
    return -1;
  }
  for (int i = 0; i < s->depth; i++) {
    if (s->devs[i] == info->st_dev && s->inos[i] == info->st_ino) {
      s->fallback = 1; /* a loop: left to find */
      return -1;
    }
  }
  s->devs[s->depth] = info->st_dev;
  s->inos[s->depth] = info->st_ino;
  s->depth++;
  return kind;
}

/*
 * One directory, entries in readdir order, each directory searched where it
 * comes (as grep -r and find visit them). `follow`: as `find -L ... -type f
 * -name <glob>`; otherwise as `grep -r` (symlinks met on the way: GNU skips
 * them, BusyBox greps those that lead to a regular file). The entry's type
 * from readdir spares a stat for files and directories (not symlinks).
 */
static void search_directory(struct search *s, const char *directory_path, const struct stat *directory_info, int follow) {
  if (s->full || s->fallback) return;
  int kind = search_enter(s, directory_path, directory_info);
  if (kind < 0) return;
  int keepable = kind == 1;
  DIR *directory = opendir(directory_path);
  if (!directory) s->fallback = 1;
  int at = directory ? dirfd(directory) : -1;
  /* Kept open for the files queued in it (a duplicate: closedir closes the original). */
  int kept = directory && s->kept < MAX_KEPT_DIRECTORIES ? fcntl(at, F_DUPFD_CLOEXEC, 0) : -1;
  if (kept >= 0) s->directories[s->kept++] = kept;
  int queue_at = kept >= 0 ? kept : AT_FDCWD;
  unsigned long seen = 0;
  char path[PATH_MAX];
  struct dirent *item;
  while (directory && !s->full && !s->fallback && (item = next_entry(directory, directory_path, 1, &seen, path, &s->fallback)) != NULL) {
    struct stat info;
    if (s->from_root && s->depth == 1 &&
        (strcmp(item->d_name, "proc") == 0 || strcmp(item->d_name, "sys") == 0 || strcmp(item->d_name, "dev") == 0 || strcmp(item->d_name, "run") == 0))
      continue; /* pruned, as the command's find prunes them */
    if (item->d_type == DT_REG) {
      if (!follow || fnmatch(s->glob, item->d_name, 0) == 0) search_file(s, queue_at, path, keepable, directory_info->st_dev);
      continue;
    }
    if (item->d_type == DT_DIR) {
      if (fstatat(at, item->d_name, &info, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(info.st_mode)) {
        s->fallback = 1; /* changed under us */
        break;
      }
      search_directory(s, path, &info, follow);
      continue;
    }
    if (follow) {
      if (stat(path, &info) < 0) continue; /* dangling, or a loop of links: not -type f */
      if (S_ISDIR(info.st_mode)) search_directory(s, path, &info, 1);
      else if (S_ISREG(info.st_mode) && fnmatch(s->glob, item->d_name, 0) == 0) search_file(s, AT_FDCWD, path, 0, 0);
      continue;
    }
    if (lstat(path, &info) < 0) {
      s->fallback = 1;
      break;
    }
    if (S_ISDIR(info.st_mode)) {
      search_directory(s, path, &info, 0);
    } else if (S_ISREG(info.st_mode)) {
      search_file(s, AT_FDCWD, path, 0, 0);
    } else if (s->from_root) {
      continue; /* find -type f: no symbolic link, FIFO, socket or device */
    } else if (S_ISLNK(info.st_mode)) {
      if (s->gnu || stat(path, &info) < 0 || S_ISDIR(info.st_mode)) continue;
      if (S_ISREG(info.st_mode)) search_file(s, AT_FDCWD, path, 0, 0);
      else s->fallback = 1;
    } else {
      s->fallback = 1; /* a FIFO, socket or device: BusyBox would open it, GNU skips it */
    }
  }
  if (directory) closedir(directory);
  s->depth--;
}

/* Whether the glob is one fnmatch reads the same in every libc and locale here (ASCII, no escapes or named classes, no slash). */
static int plain_glob(const char *glob) {
  for (const char *c = glob; *c; c++) {
    if (*c < 0x20 || *c > 0x7e || *c == '\\' || *c == '/') return 0;
    if (c[0] == '[' && (c[1] == ':' || c[1] == '=' || c[1] == '.')) return 0;
    if (c[0] == '[' && c[1] == '!' && (c[2] == ':' || c[2] == '=' || c[2] == '.')) return 0;
  }
  return 1;
}

static void search_tree(uint32_t id, const unsigned char *payload, size_t length) {
  const char *fields[3];
  size_t at = 5;
  if (length < 5 || (payload[0] != 'b' && payload[0] != 'c' && payload[0] != 'g')) {
    file_answer(id, 's', 2, NULL, 0);
    return;
  }
  for (int i = 0; i < 3; i++) {
    if (at >= length) {
      file_answer(id, 's', 2, NULL, 0);
      return;
    }
    size_t n = strnlen((const char *)payload + at, length - at);
    if (at + n >= length) {
      file_answer(id, 's', 2, NULL, 0);
      return;
    }
    fields[i] = (const char *)payload + at;
    at += n + 1;
  }
  static struct search s;
  static struct worker workers[MAX_WORKERS];
  memset(&s, 0, sizeof s);
  s.workers = workers;
  s.gnu = payload[0] != 'b';
  s.eight_bit = payload[0] != 'g';
  s.most = get32(payload + 1);
  const char *root = fields[0];
  s.pattern = fields[1];
  s.pattern_length = strlen(s.pattern);
  s.glob = fields[2][0] ? fields[2] : NULL;
  /* An empty pattern or one with a newline (several patterns), a path the tools would spell differently, a large output cap: the command. */
  if (root[0] != '/' || strstr(root, "//") || s.pattern_length == 0 || strchr(s.pattern, '\n') || (s.glob && !plain_glob(s.glob)) ||
      s.most > MAX_SEARCH_OUTPUT) {
    file_answer(id, 's', 2, NULL, 0);
    return;
  }
  s.out = new_answer(&s.used, &s.capacity);
  s.most += 1; /* the status byte */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  s.started = nanoseconds(now.tv_sec, now.tv_nsec);
  s.keeping = !files_mapped_writable();
  s.from_root = strcmp(root, "/") == 0;
  kept_generation++;
  struct stat info;
  if (stat(root, &info) == 0) {
    /* Nothing found at the path: the command prints only to stderr. */
    if (S_ISDIR(info.st_mode)) search_directory(&s, root, &info, s.glob != NULL);
    else if (S_ISREG(info.st_mode) && s.glob == NULL) search_file(&s, AT_FDCWD, root, 0, 0);
    else s.fallback = 1;
  }
  grep_queue(&s);
  for (size_t i = 0; i < s.files; i++) free(s.batches[i / RING_BATCH]->files[i % RING_BATCH].path);
  for (size_t i = 0; i < (s.files + RING_BATCH - 1) / RING_BATCH; i++) free(s.batches[i]);
  for (int i = 0; i < s.kept; i++) close(s.directories[i]);
  if (s.fallback) file_answer(id, 's', 2, NULL, 0);
  else send_frame(id, 's', s.out, s.used);
  free(s.out);
}

static void handle_frame(uint32_t id, char type, const unsigned char *payload, size_t length) {
  switch (type) {
    case 'R': start_command(id, payload, length); break;
    case 'C': apply_claim(id, payload, length); break;
    case 'W': write_file(id, payload, length); break;
    case 'G': read_file(id, payload, length); break;
    case 'B': stream_file(id, payload, length); break;
    case 'L': list_directory(id, payload, length); break;
    case 'T': list_tree(id, payload, length); break;
    case 'S': search_tree(id, payload, length); break;
    case 'K': {
      struct command *c = find(id);
      unsigned char confirmed = 1;
      if (c) {
        confirmed = (unsigned char)kill_tree(c);
      } else if (ended_marker(id)) {
        /* Ended a moment ago: what it left running still carries its marker (its group is not touched). */
        struct command late = {.id = id, .pid = 0, .out = -1, .err = -1, .reaped = 1, .marker = ended_marker(id)};
        confirmed = (unsigned char)kill_tree(&late);
      }
      send_frame(id, 'k', &confirmed, 1);
      break;
    }
    default: break;
  }
}

static void kill_everything(void) {
  for (size_t i = 0; i < ncommands; i++) kill_tree(&commands[i]);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_sigchld;
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &action, NULL);
  /* The agent's own exec marker must not reach the commands (each gets its own). */
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  fcntl(2, F_SETFD, FD_CLOEXEC);
  /*
   * A larger pipe to the host (1 MiB, best effort): fewer switches between
   * the agent and the engine while a file streams (measured: 100 MiB
   * downloads ~7% faster on two cores).
   */
  fcntl(1, F_SETPIPE_SZ, 1 << 20);

  char hello[64];
  snprintf(hello, sizeof hello, "sandbox-agent %s %d %d", VERSION, (int)getpid(), (int)geteuid());
  send_frame(0, 'H', hello, strlen(hello));

  static unsigned char chunk[CHUNK];
  struct pollfd *fds = NULL;
  size_t capfds = 0;
  for (;;) {
    size_t needed = 2 + 2 * ncommands + norphans;
    if (needed > capfds) {
      capfds = needed * 2;
      fds = realloc(fds, capfds * sizeof *fds);
      if (!fds) die("realloc");
    }
    fds[0] = (struct pollfd){0, POLLIN, 0};
    fds[1] = (struct pollfd){sigchld_pipe[0], POLLIN, 0};
    /* A command whose shell ended but whose pipes are held: wake when its grace ends. */
    int timeout = -1;
    for (size_t i = 0; i < ncommands; i++) {
      fds[2 + 2 * i] = (struct pollfd){commands[i].out, POLLIN, 0};
      fds[3 + 2 * i] = (struct pollfd){commands[i].err, POLLIN, 0};
      if (commands[i].reaped) {
        long long left = commands[i].reaped_at + EXIT_GRACE_MS - monotonic_ms();
        int wait = left < 0 ? 0 : (int)left + 1;
        if (timeout < 0 || wait < timeout) timeout = wait;
      }
    }
    size_t orphans_at = 2 + 2 * ncommands, polled_orphans = norphans;
    for (size_t i = 0; i < polled_orphans; i++) fds[orphans_at + i] = (struct pollfd){orphans[i], POLLIN, 0};
    /* While files stream, poll only looks (their chunks are sent below). */
    int ready = poll(fds, orphans_at + polled_orphans, nstreams > 0 ? 0 : timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    /* Output first, in the order the pipes are listed, so a command's output precedes its exit. */
    size_t count = ncommands;
    for (size_t i = 0; i < count && i < ncommands; i++) {
      for (int which = 0; which < 2; which++) {
        struct pollfd *p = &fds[2 + 2 * i + which];
        if (p->fd < 0 || !(p->revents & (POLLIN | POLLHUP | POLLERR))) continue;
        struct command *c = &commands[i];
        int *fd = which == 0 ? &c->out : &c->err;
        if (*fd != p->fd) continue;
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n > 0) {
          send_frame(c->id, which == 0 ? 'O' : 'E', chunk, (size_t)n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(*fd);
          *fd = -1;
        }
      }
    }
    /* Orphaned pipes: dropped output; closed at end of file (from the end, so indexes stay valid). */
    for (size_t i = polled_orphans; i-- > 0;) {
      if (!(fds[orphans_at + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(orphans[i], chunk, sizeof chunk);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(orphans[i]);
        orphans[i] = orphans[--norphans];
      }
    }
    if (fds[1].revents & POLLIN) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {
      }
    }
    reap();
    for (size_t i = ncommands; i-- > 0;) maybe_finish(i);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (inlen + CHUNK > incap) {
        incap = (inlen + CHUNK) * 2;
        inbuf = realloc(inbuf, incap);
        if (!inbuf) die("realloc");
      }
      ssize_t n = read(0, inbuf + inlen, CHUNK);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        kill_everything();
        return 0;
      }
      if (n > 0) inlen += (size_t)n;
      size_t at = 0;
      while (inlen - at >= HEADER) {
        uint32_t length = get32(inbuf + at);
        if (length > MAX_FRAME) {
          fprintf(stderr, "sandbox-agent: frame of %u bytes is too large\n", length);
          kill_everything();
          return 2;
        }
        if (inlen - at < HEADER + (size_t)length) break;
        handle_frame(get32(inbuf + at + 4), (char)inbuf[at + 8], inbuf + at + HEADER, length);
        at += HEADER + length;
      }
      memmove(inbuf, inbuf + at, inlen - at);
      inlen -= at;
    }
    pump_streams();
  }
}
