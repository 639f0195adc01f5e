/* stas_native.c: Node-API addon in C: NVMe admin passthrough, kernel uevents and bound TCP connects for stas. */
/*
 * Exports (the typed wrapper is src/adapters/native.ts):
 *
 *   adminPassthru(path, cmd) -> Promise<{ result, status, data }>
 *       One NVMe admin command through ioctl(NVME_IOCTL_ADMIN_CMD) on a controller's char device, run on
 *       libuv's thread pool. Data moves in the direction the opcode's bits 1:0 say: controller -> host
 *       (dataLength bytes read) or host -> controller (the bytes of cmd.data, copied before the call).
 *   ueventOpen(rcvbufBytes) -> fd
 *       A NETLINK_KOBJECT_UEVENT socket bound to the kernel's multicast group (1).
 *   ueventWatch(fd, onMessage, onError) -> handle
 *       Polls that socket in Node's event loop and hands every kernel datagram to onMessage(Buffer).
 *   ueventClose(handle), ueventRef(handle), ueventUnref(handle)
 *       Stops and closes a watch (idempotent); lets it keep the event loop alive or not.
 *   tcpConnectBound({ host, port, localAddress?, iface?, timeoutMs }) -> Promise<fd>
 *       A TCP connect with SO_BINDTODEVICE / bind() / a timeout, run on libuv's thread pool.
 *   scanNvmeControllers(root, attrs) -> Promise<[name, hasNamespaces, ...values][]>
 *       A whole /sys/class/nvme scan (listing, attributes, namespace check) in one thread-pool job.
 *   fabricsConnect(path, options) -> Promise<reply>
 *       One connect through /dev/nvme-fabrics (open, write the options, read the reply, close) in one job.
 *   writeAttribute(path, text) -> Promise<void>
 *       A sysfs attribute write (open, write, close; e.g. delete_controller) in one job.
 *
 * Conventions:
 * - Invalid JavaScript arguments throw synchronously: TypeError (code ERR_INVALID_ARG_TYPE or
 *   ERR_MISSING_ARGS) or RangeError (code ERR_OUT_OF_RANGE). The TypeScript wrapper turns the throws of the
 *   Promise-returning functions into rejections.
 * - System call failures become an Error shaped like Node's own: `code` is the errno name (ENOENT, ...),
 *   `errno` the negated errno, `syscall` the failing call, plus `path` or `address`/`port`.
 * - The Promise-returning functions are thread-pool jobs (job_ops: execute on a worker, result and
 *   release on the main thread; job_start/job_complete do the async-work and promise plumbing). The worker
 *   part never calls Node-API.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/nvme_ioctl.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/** Largest data transfer adminPassthru accepts (the kernel caps it lower, at the controller's MDTS). */
#define MAX_DATA_LENGTH (16u * 1024u * 1024u)
/** Largest SO_RCVBUF(FORCE) ueventOpen accepts (the kernel doubles the value; stay clear of INT_MAX). */
#define MAX_RCVBUF (1 << 30)
/** Receive buffer of a uevent watch. A kernel uevent is at most ~2 KiB of variables plus its header. */
#define UEVENT_BUFFER_SIZE 16384
/** Datagrams handled per poll callback before yielding to the loop (the poll is level-triggered). */
#define UEVENT_BATCH 256
/** Longest subsystem name a uevent watch filters on. */
#define UEVENT_FILTER_MAX 32
/** Longest IP literal with a zone: an IPv6 address (45) + '%' + an interface name or a number. */
#define MAX_IP_LITERAL (INET6_ADDRSTRLEN + 1 + IF_NAMESIZE + 16)

/* ------------------------------------------------------------------------------------------------ */
/* Errors                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Role: turn a failed Node-API call into a pending JavaScript exception (unless one is pending already)
 * and report whether the call succeeded. Every Node-API call on the main thread goes through it.
 */
static bool napi_ok_or_throw(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info); /* first: any later call overwrites it */
  const char *message = info != NULL && info->error_message != NULL ? info->error_message : "Node-API call failed";
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "ERR_NAPI", message);
  return false;
}

/** Role: shorthand for functions returning napi_value: throw and return NULL when a call fails. */
#define CHECK(env, call)                                                                                \
  do {                                                                                                  \
    if (!napi_ok_or_throw((env), (call))) return NULL;                                                  \
  } while (0)

/** Role: the errno's name (ENOENT, ...), as Node spells it, into buf. */
static void errno_name(int err, char *buf, size_t len) {
  uv_err_name_r(-err, buf, len);
  if (strncmp(buf, "Unknown", 7) != 0) return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(err); /* errnos libuv has no name for (e.g. EKEYREJECTED) */
  if (name != NULL) {
    snprintf(buf, len, "%s", name);
    return;
  }
#endif
  snprintf(buf, len, "ERRNO_%d", err);
}

/** Role: set obj[key] = a string (best effort; used while building error objects). */
static void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

/** Role: set obj[key] = a number (best effort). */
static void set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

/**
 * Role: build a Node-style system error: message, code = errno name, errno = -err, syscall, and the
 * optional path / address / port. Returns NULL (with an exception pending) if even that fails.
 * `detail_fmt` == NULL gives Node's fs style ("ENOENT: no such file or directory, open '/dev/nvme3'"),
 * otherwise Node's net style ("connect ECONNREFUSED 127.0.0.1:4420 (connection refused)").
 */
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path, const char *address,
                              int port, const char *detail) {
  char code[64], text[128], message[1024];
  errno_name(err, code, sizeof code);
  uv_strerror_r(-err, text, sizeof text);
  if (path != NULL)
    snprintf(message, sizeof message, "%s: %s, %s '%s'", code, text, syscall, path);
  else
    snprintf(message, sizeof message, "%s %s %s (%s)", syscall, code, detail != NULL ? detail : "", text);
  napi_value code_v, message_v, error;
  CHECK(env, napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v));
  CHECK(env, napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_v));
  CHECK(env, napi_create_error(env, code_v, message_v, &error));
  set_number(env, error, "errno", -err);
  set_string(env, error, "syscall", syscall);
  if (path != NULL) set_string(env, error, "path", path);
  if (address != NULL) set_string(env, error, "address", address);
  if (port > 0) set_number(env, error, "port", port);
  return error;
}

/** Role: throw errno_error(...) synchronously (for the synchronous functions). */
static void throw_errno(napi_env env, int err, const char *syscall, const char *detail) {
  napi_value error = errno_error(env, err, syscall, NULL, NULL, 0, detail);
  if (error != NULL) napi_throw(env, error);
}

/**
 * Role: settle a promise from a completion callback. A NULL value means building it failed: then the
 * pending exception (or a generic Error) is the rejection, so the promise never stays pending.
 */
static void settle(napi_env env, napi_deferred deferred, bool resolve, napi_value value) {
  if (value == NULL) {
    resolve = false;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_get_and_clear_last_exception(env, &value);
    } else {
      napi_value message;
      napi_create_string_utf8(env, "stas_native: cannot build the result", NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &value);
    }
  }
  if (resolve)
    napi_resolve_deferred(env, deferred, value);
  else
    napi_reject_deferred(env, deferred, value);
}

/* ------------------------------------------------------------------------------------------------ */
/* Argument validation                                                                               */
/* ------------------------------------------------------------------------------------------------ */

/** Role: throw TypeError(code ERR_INVALID_ARG_TYPE) "<what> must be <expected>". */
static void throw_type(napi_env env, const char *what, const char *expected) {
  char message[256];
  snprintf(message, sizeof message, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

/** Role: fetch the call's arguments; throw ERR_MISSING_ARGS if fewer than `required` were passed. */
static bool get_args(napi_env env, napi_callback_info info, size_t required, napi_value *argv, size_t max) {
  size_t argc = max;
  if (!napi_ok_or_throw(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return false;
  if (argc < required) {
    char message[64];
    snprintf(message, sizeof message, "expected %zu argument(s), got %zu", required, argc);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", message);
    return false;
  }
  return true;
}

/**
 * Role: read an integer in [min, max] from `value`. An undefined value gives `fallback` when
 * `has_fallback`, and is an error otherwise. Throws TypeError / RangeError and returns false on bad input.
 */
static bool get_integer(napi_env env, napi_value value, const char *what, double min, double max, bool has_fallback,
                        double fallback, double *out) {
  napi_valuetype type;
  if (!napi_ok_or_throw(env, napi_typeof(env, value, &type))) return false;
  if (type == napi_undefined && has_fallback) {
    *out = fallback;
    return true;
  }
  if (type != napi_number) {
    throw_type(env, what, "a number");
    return false;
  }
  double v;
  if (!napi_ok_or_throw(env, napi_get_value_double(env, value, &v))) return false;
  if (!isfinite(v) || floor(v) != v || v < min || v > max) {
    char message[256];
    snprintf(message, sizeof message, "%s must be an integer in [%.0f, %.0f], got %.17g", what, min, max, v);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = v;
  return true;
}

/** Role: get_integer on obj[key] (the message names it `<objname>.<key>`). */
static bool get_integer_prop(napi_env env, napi_value obj, const char *objname, const char *key, double min,
                             double max, bool has_fallback, double fallback, double *out) {
  napi_value value;
  char what[96];
  snprintf(what, sizeof what, "%s.%s", objname, key);
  if (!napi_ok_or_throw(env, napi_get_named_property(env, obj, key, &value))) return false;
  return get_integer(env, value, what, min, max, has_fallback, fallback, out);
}

/**
 * Role: copy a JS string of 1..max_len UTF-8 bytes without NUL characters into a new malloc()ed
 * C string (*out; the caller frees it). `optional`: undefined/null gives *out = NULL and success.
 */
static bool get_string(napi_env env, napi_value value, const char *what, size_t max_len, bool optional, char **out) {
  *out = NULL;
  napi_valuetype type;
  if (!napi_ok_or_throw(env, napi_typeof(env, value, &type))) return false;
  if (optional && (type == napi_undefined || type == napi_null)) return true;
  if (type != napi_string) {
    throw_type(env, what, optional ? "a string or undefined" : "a string");
    return false;
  }
  size_t len = 0;
  if (!napi_ok_or_throw(env, napi_get_value_string_utf8(env, value, NULL, 0, &len))) return false;
  if (len == 0 || len > max_len) {
    char message[160];
    snprintf(message, sizeof message, "%s must have 1 to %zu bytes, got %zu", what, max_len, len);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  size_t copied = 0;
  if (!napi_ok_or_throw(env, napi_get_value_string_utf8(env, value, s, len + 1, &copied))) {
    free(s);
    return false;
  }
  if (strlen(s) != copied) {
    free(s);
    char message[160];
    snprintf(message, sizeof message, "%s must not contain NUL characters", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
    return false;
  }
  *out = s;
  return true;
}

/** Role: obj[key] as an optional string (see get_string). */
static bool get_string_prop(napi_env env, napi_value obj, const char *objname, const char *key, size_t max_len,
                            bool optional, char **out) {
  napi_value value;
  char what[96];
  snprintf(what, sizeof what, "%s.%s", objname, key);
  *out = NULL;
  if (!napi_ok_or_throw(env, napi_get_named_property(env, obj, key, &value))) return false;
  return get_string(env, value, what, max_len, optional, out);
}

/** Role: check that `value` is a non-null object (throws TypeError otherwise). */
static bool is_object_arg(napi_env env, napi_value value, const char *what) {
  napi_valuetype type;
  if (!napi_ok_or_throw(env, napi_typeof(env, value, &type))) return false;
  if (type != napi_object) {
    throw_type(env, what, "an object");
    return false;
  }
  return true;
}

/* ------------------------------------------------------------------------------------------------ */
/* Thread-pool jobs                                                                                  */
/* ------------------------------------------------------------------------------------------------ */

typedef struct job job;

/** What one kind of thread-pool job does; each Promise-returning function defines one. */
typedef struct {
  const char *resource; /* the async resource name */
  /** Worker thread (no Node-API): the blocking part. */
  void (*execute)(job *j);
  /**
   * Main thread: the value that settles the promise and whether it resolves (*resolve) or rejects; NULL if
   * building it failed (settle() then rejects with the pending exception). `cancelled`: the work never ran.
   */
  napi_value (*result)(napi_env env, job *j, bool cancelled, bool *resolve);
  /** Main thread: release what the request's own fields hold (any subset may be unset); not the request. */
  void (*release)(napi_env env, job *j);
} job_ops;

/** The head of every thread-pool request (its first member): the async work and the promise it settles. */
struct job {
  const job_ops *ops;
  napi_async_work work;
  napi_deferred deferred;
};

/** Role: a new zeroed request of `size` bytes starting with a job, or NULL with ENOMEM thrown. */
static void *job_new(napi_env env, size_t size, const job_ops *ops) {
  job *j = calloc(1, size);
  if (j == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  j->ops = ops;
  return j;
}

/** Role: release a request: its async work, what its fields hold, the request itself. Main thread. */
static void job_free(napi_env env, job *j) {
  if (j == NULL) return;
  if (j->work != NULL) napi_delete_async_work(env, j->work);
  j->ops->release(env, j);
  free(j);
}

/** Role: the napi_async_execute_callback of every job (worker thread). */
static void job_execute(napi_env env, void *data) {
  (void)env;
  job *j = data;
  j->ops->execute(j);
}

/** Role: the napi_async_complete_callback of every job: settle the promise, then free the request. */
static void job_complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  bool resolve = false;
  napi_value value = j->ops->result(env, j, status != napi_ok, &resolve);
  settle(env, j->deferred, resolve, value);
  job_free(env, j);
}

/**
 * Role: queue a thread-pool job and return the promise its completion settles. On failure the request is freed
 * (a promise already made is rejected first, so that none is left pending) and NULL is returned with an
 * exception pending.
 */
static napi_value job_start(napi_env env, job *j) {
  napi_value name, promise;
  if (!napi_ok_or_throw(env, napi_create_string_utf8(env, j->ops->resource, NAPI_AUTO_LENGTH, &name)) ||
      !napi_ok_or_throw(env, napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work)) ||
      !napi_ok_or_throw(env, napi_create_promise(env, &j->deferred, &promise))) {
    job_free(env, j);
    return NULL;
  }
  if (!napi_ok_or_throw(env, napi_queue_async_work(env, j->work))) {
    napi_value error = NULL;
    napi_get_and_clear_last_exception(env, &error);
    napi_reject_deferred(env, j->deferred, error);
    napi_throw(env, error);
    job_free(env, j);
    return NULL;
  }
  return promise;
}

/** Role: the monotonic clock in milliseconds (for the connect timeout). */
static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------------ */
/* adminPassthru                                                                                     */
/* ------------------------------------------------------------------------------------------------ */

/** One adminPassthru call, from argument parsing to promise settlement. */
typedef struct {
  job job;
  napi_ref data_ref; /* the Buffer the kernel reads from or writes into, kept alive until completion */
  void *data;        /* its bytes; NULL when data_len is 0 */
  bool to_controller; /* data moves host -> controller (a copy of cmd.data) */
  char *path;
  struct nvme_passthru_cmd cmd;
  int ret;             /* the ioctl's return value when >= 0 */
  int err;             /* errno of the failed call, 0 on success */
  const char *syscall; /* the failed call: "open" or "ioctl" */
} passthru_req;

/** Role: release what a passthru_req holds (any subset may be unset). Main thread. */
static void passthru_release(napi_env env, job *j) {
  passthru_req *r = (passthru_req *)j;
  if (r->data_ref != NULL) napi_delete_reference(env, r->data_ref);
  free(r->path);
}

/**
 * Role: the blocking part, on a thread-pool thread (no Node-API here): open the device, issue
 * NVME_IOCTL_ADMIN_CMD, close. O_NONBLOCK keeps open() of a FIFO or similar from blocking the thread.
 */
static void passthru_execute(job *j) {
  passthru_req *r = (passthru_req *)j;
  /* napi_create_buffer memory is uninitialized: a read buffer starts as zeros */
  if (r->data != NULL && !r->to_controller) memset(r->data, 0, r->cmd.data_len);
  int fd;
  do {
    fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    r->err = errno;
    r->syscall = "open";
    return;
  }
  int ret = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &r->cmd);
  if (ret < 0) {
    r->err = errno;
    r->syscall = "ioctl";
  } else {
    r->ret = ret;
  }
  close(fd);
}

/** Role: back on the main thread: { result, status, data } or the errno error. */
static napi_value passthru_result(napi_env env, job *j, bool cancelled, bool *resolve) {
  passthru_req *r = (passthru_req *)j;
  napi_value value = NULL;
  if (cancelled) {
    value = errno_error(env, ECANCELED, "ioctl", r->path, NULL, 0, NULL);
  } else if (r->err != 0) {
    value = errno_error(env, r->err, r->syscall, r->path, NULL, 0, NULL);
  } else {
    napi_value obj, result, st, data;
    if (napi_create_object(env, &obj) == napi_ok && napi_create_uint32(env, r->cmd.result, &result) == napi_ok &&
        napi_create_uint32(env, (uint32_t)r->ret, &st) == napi_ok &&
        napi_get_reference_value(env, r->data_ref, &data) == napi_ok && data != NULL &&
        napi_set_named_property(env, obj, "result", result) == napi_ok &&
        napi_set_named_property(env, obj, "status", st) == napi_ok &&
        napi_set_named_property(env, obj, "data", data) == napi_ok) {
      value = obj;
      *resolve = true;
    }
  }
  return value;
}

static const job_ops passthru_ops = {"stas_native.adminPassthru", passthru_execute, passthru_result,
                                     passthru_release};

/**
 * adminPassthru(path: string, cmd: {opcode, nsid?, cdw10?..cdw15?, dataLength?, data?, timeoutMs?}): Promise.
 * Role: validate, allocate the data Buffer (for a write: a copy of cmd.data), and queue the ioctl on the thread
 * pool. The opcode's bit 0 (host -> controller) decides the direction, as in the NVMe specification: with bit 0
 * set, a transfer needs cmd.data (a Buffer or TypedArray of 1 to MAX_DATA_LENGTH bytes; dataLength, if given, must
 * be its length); with bit 0 clear, cmd.data is refused and dataLength bytes are read. Bidirectional opcodes (bits
 * 1:0 = 11b) are refused with data. timeoutMs 0 = the kernel's admin timeout.
 */
static napi_value AdminPassthru(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, 2)) return NULL;
  passthru_req *r = job_new(env, sizeof *r, &passthru_ops);
  if (r == NULL) return NULL;
  if (!get_string(env, argv[0], "path", PATH_MAX - 1, false, &r->path)) goto fail;
  if (!is_object_arg(env, argv[1], "cmd")) goto fail;

  static const char *const cdw_names[] = {"cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15"};
  double opcode, nsid, cdw[6], data_length, timeout_ms;
  if (!get_integer_prop(env, argv[1], "cmd", "opcode", 0, 0xff, false, 0, &opcode)) goto fail;
  if (!get_integer_prop(env, argv[1], "cmd", "nsid", 0, UINT32_MAX, true, 0, &nsid)) goto fail;
  for (int i = 0; i < 6; i++)
    if (!get_integer_prop(env, argv[1], "cmd", cdw_names[i], 0, UINT32_MAX, true, 0, &cdw[i])) goto fail;
  if (!get_integer_prop(env, argv[1], "cmd", "dataLength", 0, MAX_DATA_LENGTH, true, 0, &data_length)) goto fail;
  if (!get_integer_prop(env, argv[1], "cmd", "timeoutMs", 0, UINT32_MAX, true, 0, &timeout_ms)) goto fail;

  /* Host-to-controller data: cmd.data, only with an opcode whose direction bits say so. */
  napi_value data_value;
  napi_valuetype data_type;
  if (!napi_ok_or_throw(env, napi_get_named_property(env, argv[1], "data", &data_value))) goto fail;
  if (!napi_ok_or_throw(env, napi_typeof(env, data_value, &data_type))) goto fail;
  const void *source = NULL;
  size_t source_length = 0;
  if (data_type != napi_undefined && data_type != napi_null) {
    bool is_typed = false;
    if (!napi_ok_or_throw(env, napi_is_typedarray(env, data_value, &is_typed))) goto fail;
    if (!is_typed) {
      throw_type(env, "cmd.data", "a Buffer or TypedArray");
      goto fail;
    }
    napi_typedarray_type ta_type;
    size_t element_count, byte_offset;
    napi_value arraybuffer;
    void *elements = NULL;
    if (!napi_ok_or_throw(env, napi_get_typedarray_info(env, data_value, &ta_type, &element_count, &elements,
                                                        &arraybuffer, &byte_offset)))
      goto fail;
    size_t element_size = 1;
    switch (ta_type) {
    case napi_int16_array:
    case napi_uint16_array:
      element_size = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      element_size = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      element_size = 8;
      break;
    default:
      break;
    }
    source = elements;
    source_length = element_count * element_size;
    if ((((unsigned)opcode) & 3u) != 1u) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                             "cmd.data is for opcodes that transfer data host-to-controller (bits 1:0 = 01b)");
      goto fail;
    }
    if (source_length == 0 || source_length > MAX_DATA_LENGTH) {
      char message[128];
      snprintf(message, sizeof message, "cmd.data must have 1 to %u bytes, got %zu", MAX_DATA_LENGTH, source_length);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
      goto fail;
    }
    napi_value given;
    napi_valuetype given_type;
    if (!napi_ok_or_throw(env, napi_get_named_property(env, argv[1], "dataLength", &given))) goto fail;
    if (!napi_ok_or_throw(env, napi_typeof(env, given, &given_type))) goto fail;
    if (given_type != napi_undefined && data_length != (double)source_length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "cmd.dataLength must be the length of cmd.data");
      goto fail;
    }
    data_length = (double)source_length;
    r->to_controller = true;
  } else if (data_length > 0 && ((unsigned)opcode & 1u) != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "cmd.opcode transfers data host-to-controller: pass the bytes as cmd.data");
    goto fail;
  }

  r->cmd.opcode = (uint8_t)opcode;
  r->cmd.nsid = (uint32_t)nsid;
  r->cmd.cdw10 = (uint32_t)cdw[0];
  r->cmd.cdw11 = (uint32_t)cdw[1];
  r->cmd.cdw12 = (uint32_t)cdw[2];
  r->cmd.cdw13 = (uint32_t)cdw[3];
  r->cmd.cdw14 = (uint32_t)cdw[4];
  r->cmd.cdw15 = (uint32_t)cdw[5];
  r->cmd.data_len = (uint32_t)data_length;
  r->cmd.timeout_ms = (uint32_t)timeout_ms;

  napi_value buffer;
  void *bytes = NULL;
  if (!napi_ok_or_throw(env, napi_create_buffer(env, (size_t)data_length, &bytes, &buffer))) goto fail;
  if (r->to_controller) memcpy(bytes, source, source_length); /* the caller may change its array meanwhile */
  if (!napi_ok_or_throw(env, napi_create_reference(env, buffer, 1, &r->data_ref))) goto fail;
  r->data = r->cmd.data_len > 0 ? bytes : NULL;
  r->cmd.addr = (uint64_t)(uintptr_t)r->data;

  return job_start(env, &r->job);

fail:
  job_free(env, &r->job);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* Kernel uevents                                                                                    */
/* ------------------------------------------------------------------------------------------------ */

/**
 * ueventOpen(rcvbufBytes: number): number
 * Role: create a NETLINK_KOBJECT_UEVENT datagram socket (non-blocking, close-on-exec) bound to
 * multicast group 1 (the kernel's events; udev re-broadcasts on group 2, which is not wanted here),
 * with a receive buffer of rcvbufBytes (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, which the
 * kernel caps at net.core.rmem_max). rcvbufBytes 0 keeps the default. Returns the fd; the caller owns
 * it until ueventWatch takes it over.
 */
static napi_value UeventOpen(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double rcvbuf;
  if (!get_args(env, info, 1, argv, 1)) return NULL;
  if (!get_integer(env, argv[0], "rcvbufBytes", 0, MAX_RCVBUF, false, 0, &rcvbuf)) return NULL;

  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) {
    throw_errno(env, errno, "socket", "AF_NETLINK NETLINK_KOBJECT_UEVENT");
    return NULL;
  }
  if (rcvbuf > 0) {
    int size = (int)rcvbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "setsockopt", "SO_RCVBUF");
      return NULL;
    }
  }
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = 0; /* the kernel assigns the port ID */
  addr.nl_groups = 1;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", "AF_NETLINK group 1");
    return NULL;
  }
  napi_value result;
  if (!napi_ok_or_throw(env, napi_create_int32(env, fd, &result))) {
    close(fd);
    return NULL;
  }
  return result;
}

/**
 * A uevent watch. Its memory is freed once BOTH the uv_poll_t is closed (on_poll_closed) and the JS
 * handle object is finalized (watcher_finalize); both run on the main thread, so plain flags suffice.
 * While open, the handle object is held by a strong reference (self_ref): a watch whose handle the
 * caller dropped keeps delivering events instead of stopping at some garbage collection.
 */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;              /* -1 once closed */
  bool poll_inited;    /* uv_poll_init succeeded (then uv_close must run) */
  bool handle_closed;  /* no uv handle (left) to wait for */
  bool closed;         /* ueventClose (or teardown) happened */
  bool js_released;    /* the references and async context are released */
  bool finalized;      /* the JS handle object was garbage collected */
  bool dispatching;    /* inside on_poll: defer releasing the JS callbacks */
  napi_async_cleanup_hook_handle cleanup; /* registered while the uv handle exists */
  napi_ref on_message; /* (buf: Buffer) => void */
  napi_ref on_error;   /* (code: string) => void */
  napi_ref self_ref;   /* strong reference to the handle object while open */
  napi_async_context async_context;
  char filter[UEVENT_FILTER_MAX + sizeof "SUBSYSTEM="]; /* "SUBSYSTEM=<name>", or "" for every datagram */
  size_t filter_len;
  char buf[UEVENT_BUFFER_SIZE];
} watcher;

/**
 * Role: does the datagram carry the watch's SUBSYSTEM= property (or has the watch no filter)? Compares whole
 * NUL-terminated fields after the `ACTION@DEVPATH` header, so a value that only contains the text never matches.
 */
static bool uevent_wanted(const watcher *w, const char *d, size_t n) {
  if (w->filter_len == 0) return true;
  size_t i = 0;
  while (i < n && d[i] != '\0') i++; /* skip the header */
  while (i < n) {
    i++; /* past the NUL */
    size_t start = i;
    while (i < n && d[i] != '\0') i++;
    if (i - start == w->filter_len && memcmp(d + start, w->filter, w->filter_len) == 0) return true;
  }
  return false;
}

/** Type tag of uevent handle objects, so ueventClose rejects look-alike objects. */
static const napi_type_tag WATCHER_TAG = {0x7374617375657665ULL, 0x6e742d7761746368ULL};

/** Role: free a watcher once nothing (uv or JS) can reach it any more. */
static void watcher_maybe_free(watcher *w) {
  if (w->handle_closed && w->finalized) free(w);
}

/**
 * Role: uv_close callback of the poll handle. Only now may the environment finish tearing down (and
 * unload this library): remove the async cleanup hook, which holds the teardown until here.
 */
static void on_poll_closed(uv_handle_t *handle) {
  watcher *w = handle->data;
  w->handle_closed = true;
  napi_async_cleanup_hook_handle cleanup = w->cleanup;
  w->cleanup = NULL;
  watcher_maybe_free(w);
  if (cleanup != NULL) napi_remove_async_cleanup_hook(cleanup);
}

/** Role: drop the JS callbacks, the async context and the self reference (main thread). */
static void watcher_release_js(watcher *w) {
  if (w->js_released) return;
  w->js_released = true;
  napi_env env = w->env;
  if (w->on_message != NULL) napi_delete_reference(env, w->on_message);
  if (w->on_error != NULL) napi_delete_reference(env, w->on_error);
  if (w->async_context != NULL) napi_async_destroy(env, w->async_context);
  if (w->self_ref != NULL) napi_delete_reference(env, w->self_ref);
  w->on_message = w->on_error = w->self_ref = NULL;
  w->async_context = NULL;
}

/**
 * Role: stop a watch: close the uv handle (which stops polling), close the fd if `close_fd` (the watch
 * owns it once ueventWatch succeeded) and release the JS side, deferred to the end of on_poll when a JS
 * callback closed the watch from inside it. Idempotent.
 */
static void watcher_close(watcher *w, bool close_fd) {
  if (w->closed) return;
  w->closed = true;
  if (w->poll_inited) uv_close((uv_handle_t *)&w->poll, on_poll_closed);
  if (close_fd && w->fd >= 0) close(w->fd); /* after uv_close: libuv no longer watches it */
  w->fd = -1;
  if (!w->dispatching) watcher_release_js(w);
}

/**
 * Role: async env cleanup hook (worker thread exit, process teardown): close a watch that is still open
 * so the fd does not leak. The environment waits until on_poll_closed removes the hook: without that,
 * a worker would run the uv close callback after unloading this library.
 */
static void watcher_cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; /* the same as w->cleanup */
  watcher_close(arg, true);
}

/** Role: finalizer of the JS handle object. Reached while open only at environment teardown. */
static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher *w = data;
  watcher_close(w, true);
  w->finalized = true;
  watcher_maybe_free(w);
}

/**
 * Role: call a JS callback of the watch with one argument, from a uv callback: napi_make_callback gives
 * it a proper callback scope (async hooks, then process.nextTick and microtasks run afterwards). An
 * exception it throws is taken off the env and re-thrown via napi_fatal_exception, i.e. it becomes an
 * 'uncaughtException' as with any other callback; it must not stay pending in the env.
 */
static void watcher_call(watcher *w, napi_ref fn_ref, napi_value arg) {
  napi_env env = w->env;
  napi_value fn = NULL, recv, ignored;
  if (fn_ref == NULL || napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  if (napi_get_global(env, &recv) != napi_ok) return; /* napi_make_callback needs an object receiver */
  napi_make_callback(env, w->async_context, recv, fn, 1, &arg, &ignored);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

/** Role: onError(code) with an errno name or a libuv error name. */
static void watcher_report(watcher *w, const char *code) {
  napi_value v;
  if (napi_create_string_utf8(w->env, code, NAPI_AUTO_LENGTH, &v) == napi_ok) watcher_call(w, w->on_error, v);
}

/**
 * Role: uv_poll callback (main thread, event loop): drain the socket with recvmsg() until EAGAIN (at
 * most UEVENT_BATCH datagrams per call; the poll is level-triggered and calls back for the rest) and
 * hand each kernel datagram to onMessage as a Buffer copy.
 * - ENOBUFS (the receive buffer overflowed, events were lost): onError('ENOBUFS'), go on reading.
 * - a datagram whose sender is not the kernel (port ID != 0; any local process may unicast to this
 *   socket) is dropped silently: it could be a forged uevent.
 * - a truncated datagram (cannot happen with UEVENT_BUFFER_SIZE): onError('EMSGSIZE'), dropped.
 * - any other error (or a poll error): the watch stops polling and onError(code) is called; the caller
 *   should ueventClose it.
 */
static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  watcher *w = handle->data;
  if (w->closed) return;
  napi_env env = w->env;
  w->dispatching = true;
  if (status < 0) {
    char code[64];
    uv_err_name_r(status, code, sizeof code); /* a libuv error: its name is the errno name */
    uv_poll_stop(&w->poll);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      watcher_report(w, code);
      napi_close_handle_scope(env, scope);
    }
  }
  char code[64];
  for (int i = 0; status >= 0 && i < UEVENT_BATCH && !w->closed; i++) {
    struct sockaddr_nl sender;
    struct iovec iov = {.iov_base = w->buf, .iov_len = sizeof w->buf};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    memset(&sender, 0, sizeof sender);
    msg.msg_name = &sender;
    msg.msg_namelen = sizeof sender;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(w->fd, &msg, MSG_DONTWAIT);
    const char *report = NULL;
    bool stop = false;
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == ENOBUFS) {
        report = "ENOBUFS";
      } else {
        errno_name(err, code, sizeof code);
        report = code;
        stop = true;
      }
    } else if (msg.msg_namelen < sizeof sender || sender.nl_family != AF_NETLINK || sender.nl_pid != 0) {
      continue; /* not from the kernel */
    } else if ((msg.msg_flags & MSG_TRUNC) != 0) {
      report = "EMSGSIZE";
    } else if (!uevent_wanted(w, w->buf, (size_t)n)) {
      continue; /* another subsystem: never reaches JavaScript */
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    if (report != NULL) {
      if (stop) uv_poll_stop(&w->poll);
      watcher_report(w, report);
    } else {
      napi_value buffer;
      if (napi_create_buffer_copy(env, (size_t)n, w->buf, NULL, &buffer) == napi_ok)
        watcher_call(w, w->on_message, buffer);
    }
    napi_close_handle_scope(env, scope);
    if (stop) break;
  }
  w->dispatching = false;
  if (w->closed) watcher_release_js(w); /* a callback called ueventClose */
}

/**
 * Role: the watcher behind a handle object, checked by its type tag; throws TypeError otherwise.
 */
static watcher *unwrap_watcher(napi_env env, napi_value value) {
  napi_valuetype type;
  bool tagged = false;
  void *w = NULL;
  if (!napi_ok_or_throw(env, napi_typeof(env, value, &type))) return NULL;
  if (type == napi_object && !napi_ok_or_throw(env, napi_check_object_type_tag(env, value, &WATCHER_TAG, &tagged)))
    return NULL;
  if (!tagged) {
    throw_type(env, "handle", "a handle returned by ueventWatch");
    return NULL;
  }
  if (!napi_ok_or_throw(env, napi_unwrap(env, value, &w))) return NULL;
  return w;
}

/**
 * ueventWatch(fd: number, onMessage: (buf: Buffer) => void, onError: (code: string) => void,
 *             subsystem?: string): handle
 * Role: start polling a ueventOpen socket in Node's event loop. On success the watch owns the fd
 * (ueventClose closes it); on a throw the caller still owns it. The fd must be a NETLINK_KOBJECT_UEVENT
 * socket (code EINVAL otherwise). With `subsystem` (1 to UEVENT_FILTER_MAX characters of [a-z0-9_-]), only
 * datagrams with the property SUBSYSTEM=<subsystem> are delivered: the others are dropped here, without
 * costing the event loop a JavaScript call. Returns an opaque, type-tagged handle object.
 */
static napi_value UeventWatch(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  double fd_d;
  char *subsystem = NULL;
  if (!get_args(env, info, 3, argv, 4)) return NULL;
  if (!get_integer(env, argv[0], "fd", 0, INT_MAX, false, 0, &fd_d)) return NULL;
  for (int i = 1; i <= 2; i++) {
    napi_valuetype type;
    CHECK(env, napi_typeof(env, argv[i], &type));
    if (type != napi_function) {
      throw_type(env, i == 1 ? "onMessage" : "onError", "a function");
      return NULL;
    }
  }
  if (!get_string(env, argv[3], "subsystem", UEVENT_FILTER_MAX, true, &subsystem)) return NULL;
  if (subsystem != NULL) {
    bool ok = subsystem[0] != '\0';
    for (const char *c = subsystem; *c != '\0'; c++)
      ok = ok && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-');
    if (!ok) {
      free(subsystem);
      throw_type(env, "subsystem", "a subsystem name ([a-z0-9_-]+)");
      return NULL;
    }
  }
  char filter[sizeof ((watcher *)0)->filter] = "";
  if (subsystem != NULL) snprintf(filter, sizeof filter, "SUBSYSTEM=%s", subsystem);
  free(subsystem);
  int fd = (int)fd_d;
  int domain = 0, protocol = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
    throw_errno(env, errno, "getsockopt", "SO_DOMAIN");
    return NULL;
  }
  len = sizeof protocol;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0) {
    throw_errno(env, errno, "getsockopt", "SO_PROTOCOL");
    return NULL;
  }
  if (domain != AF_NETLINK || protocol != NETLINK_KOBJECT_UEVENT) {
    throw_errno(env, EINVAL, "ueventWatch", "(fd is not a NETLINK_KOBJECT_UEVENT socket)");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    throw_errno(env, errno, "fcntl", "O_NONBLOCK");
    return NULL;
  }

  uv_loop_t *loop = NULL;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  watcher *w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->env = env;
  w->fd = fd;
  memcpy(w->filter, filter, sizeof filter);
  w->filter_len = strlen(filter);
  w->handle_closed = true; /* until uv_poll_init succeeds */
  w->poll.data = w;

  /* the handle object first: from here on its finalizer owns w, and failures go through watcher_close */
  napi_value handle, resource_name;
  if (!napi_ok_or_throw(env, napi_create_object(env, &handle))) {
    free(w);
    return NULL;
  }
  if (!napi_ok_or_throw(env, napi_wrap(env, handle, w, watcher_finalize, NULL, NULL))) {
    free(w);
    return NULL;
  }
  int err = 0;
  if (!napi_ok_or_throw(env, napi_type_tag_object(env, handle, &WATCHER_TAG)) ||
      !napi_ok_or_throw(env, napi_create_reference(env, argv[1], 1, &w->on_message)) ||
      !napi_ok_or_throw(env, napi_create_reference(env, argv[2], 1, &w->on_error)) ||
      !napi_ok_or_throw(env, napi_create_string_utf8(env, "stas_native.uevent", NAPI_AUTO_LENGTH, &resource_name)) ||
      !napi_ok_or_throw(env, napi_async_init(env, handle, resource_name, &w->async_context)) ||
      !napi_ok_or_throw(env, napi_create_reference(env, handle, 1, &w->self_ref)))
    goto fail;
  err = uv_poll_init(loop, &w->poll, fd);
  if (err != 0) {
    throw_errno(env, -err, "uv_poll_init", NULL);
    goto fail;
  }
  w->poll_inited = true;
  w->handle_closed = false;
  err = uv_poll_start(&w->poll, UV_READABLE, on_poll);
  if (err != 0) {
    throw_errno(env, -err, "uv_poll_start", NULL);
    goto fail;
  }
  if (!napi_ok_or_throw(env, napi_add_async_cleanup_hook(env, watcher_cleanup_hook, w, &w->cleanup))) {
    w->cleanup = NULL;
    goto fail;
  }
  return handle;

fail:
  watcher_close(w, false); /* the caller keeps the fd */
  return NULL;
}

/** ueventClose(handle): Role: stop the watch and close its fd. Idempotent. */
static napi_value UeventClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, 1)) return NULL;
  watcher *w = unwrap_watcher(env, argv[0]);
  if (w == NULL) return NULL;
  watcher_close(w, true);
  return NULL;
}

/** ueventRef(handle) / ueventUnref(handle): Role: whether the watch keeps the event loop alive. */
static napi_value set_ref(napi_env env, napi_callback_info info, bool ref) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, 1)) return NULL;
  watcher *w = unwrap_watcher(env, argv[0]);
  if (w == NULL) return NULL;
  if (!w->closed && w->poll_inited) {
    if (ref)
      uv_ref((uv_handle_t *)&w->poll);
    else
      uv_unref((uv_handle_t *)&w->poll);
  }
  return NULL;
}

static napi_value UeventRef(napi_env env, napi_callback_info info) { return set_ref(env, info, true); }

static napi_value UeventUnref(napi_env env, napi_callback_info info) { return set_ref(env, info, false); }

/* ------------------------------------------------------------------------------------------------ */
/* tcpConnectBound                                                                                   */
/* ------------------------------------------------------------------------------------------------ */

/** An IP literal: the address, and the zone after '%' (IPv6 only), resolved on the worker thread. */
typedef struct {
  int family; /* AF_INET or AF_INET6 */
  struct in_addr v4;
  struct in6_addr v6;
  char zone[IF_NAMESIZE + 16]; /* "" when none */
} ip_literal;

/** One tcpConnectBound call. */
typedef struct {
  job job;
  char *host; /* as given, for messages */
  char *local_text;
  char *iface;
  ip_literal remote;
  ip_literal local;
  bool has_local;
  int port;
  int timeout_ms;
  int fd;              /* the connected socket, -1 on failure */
  int err;             /* errno of the failed step */
  const char *syscall; /* the failed step */
} tcp_req;

/** Role: release what a tcp_req holds (and close its fd unless it was handed to JS). Main thread. */
static void tcp_release(napi_env env, job *j) {
  (void)env;
  tcp_req *r = (tcp_req *)j;
  if (r->fd >= 0) close(r->fd);
  free(r->host);
  free(r->local_text);
  free(r->iface);
}

/** Role: parse "1.2.3.4", "::1" or "fe80::1%eth0" (pure; no I/O). False if it is not an IP literal. */
static bool parse_ip_literal(const char *text, ip_literal *out) {
  memset(out, 0, sizeof *out);
  char addr[MAX_IP_LITERAL + 1];
  if (strlen(text) > MAX_IP_LITERAL) return false;
  snprintf(addr, sizeof addr, "%s", text);
  char *percent = strchr(addr, '%');
  if (percent != NULL) {
    *percent = '\0';
    const char *zone = percent + 1;
    if (*zone == '\0' || strlen(zone) >= sizeof out->zone) return false;
    snprintf(out->zone, sizeof out->zone, "%s", zone);
  }
  if (inet_pton(AF_INET, addr, &out->v4) == 1) {
    out->family = AF_INET;
    return percent == NULL; /* no zones for IPv4 */
  }
  if (inet_pton(AF_INET6, addr, &out->v6) == 1) {
    out->family = AF_INET6;
    return true;
  }
  return false;
}

/**
 * Role: fill a sockaddr for an IP literal (worker thread: resolves the zone with if_nametoindex, or
 * takes it as a number). Returns 0 or an errno (ENODEV for an unknown zone interface).
 */
static int make_sockaddr(const ip_literal *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (ip->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr = ip->v4;
    *len = sizeof *sin;
    return 0;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  sin6->sin6_addr = ip->v6;
  *len = sizeof *sin6;
  if (ip->zone[0] != '\0') {
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(ip->zone, &end, 10);
    if (*end == '\0' && errno == 0 && n > 0 && n <= UINT32_MAX) {
      sin6->sin6_scope_id = (uint32_t)n;
    } else {
      unsigned index = if_nametoindex(ip->zone);
      if (index == 0) return errno != 0 ? errno : ENODEV;
      sin6->sin6_scope_id = index;
    }
  }
  return 0;
}

/** Role: record the failed step of a connect (closing the socket) and leave tcp_execute. */
#define TCP_FAIL(r, err, syscall) \
  do {                           \
    tcp_fail((r), (err), (syscall)); \
    return;                      \
  } while (0)

/** Role: record the failed step of a connect. */
static void tcp_fail(tcp_req *r, int err, const char *syscall) {
  r->err = err;
  r->syscall = syscall;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

/**
 * Role: the blocking part, on a thread-pool thread (no Node-API here): socket (non-blocking,
 * close-on-exec), SO_BINDTODEVICE, bind, connect, poll for POLLOUT until the deadline, SO_ERROR.
 */
static void tcp_execute(job *j) {
  tcp_req *r = (tcp_req *)j;
  struct sockaddr_storage remote, local;
  socklen_t remote_len = 0, local_len = 0;
  int err = make_sockaddr(&r->remote, r->port, &remote, &remote_len);
  if (err != 0) TCP_FAIL(r, err, "if_nametoindex");
  if (r->has_local && (err = make_sockaddr(&r->local, 0, &local, &local_len)) != 0)
    TCP_FAIL(r, err, "if_nametoindex");

  r->fd = socket(r->remote.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (r->fd < 0) TCP_FAIL(r, errno, "socket");
  if (r->iface != NULL) {
    /* the kernel silently truncates longer names to IFNAMSIZ-1: refuse them (no such interface) */
    if (strlen(r->iface) >= IFNAMSIZ) TCP_FAIL(r, ENODEV, "setsockopt(SO_BINDTODEVICE)");
    if (setsockopt(r->fd, SOL_SOCKET, SO_BINDTODEVICE, r->iface, (socklen_t)strlen(r->iface)) < 0)
      TCP_FAIL(r, errno, "setsockopt(SO_BINDTODEVICE)");
  }
  if (r->has_local && bind(r->fd, (struct sockaddr *)&local, local_len) < 0) TCP_FAIL(r, errno, "bind");

  if (connect(r->fd, (struct sockaddr *)&remote, remote_len) == 0) return;
  if (errno != EINPROGRESS && errno != EINTR) TCP_FAIL(r, errno, "connect");
  int64_t deadline = monotonic_ms() + r->timeout_ms;
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) TCP_FAIL(r, ETIMEDOUT, "connect");
    struct pollfd pfd = {.fd = r->fd, .events = POLLOUT, .revents = 0};
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) TCP_FAIL(r, errno, "poll");
    if (n == 0) TCP_FAIL(r, ETIMEDOUT, "connect");
    break;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) TCP_FAIL(r, errno, "getsockopt");
  if (so_error != 0) TCP_FAIL(r, so_error, "connect");
}

/** Role: back on the main thread: the fd to resolve with (handing it over) or the errno error. */
static napi_value tcp_result(napi_env env, job *j, bool cancelled, bool *resolve) {
  tcp_req *r = (tcp_req *)j;
  napi_value value = NULL;
  char detail[MAX_IP_LITERAL + 64];
  if (cancelled && r->err == 0) tcp_fail(r, ECANCELED, "connect");
  if (r->err == 0) {
    if (napi_create_int32(env, r->fd, &value) == napi_ok) {
      *resolve = true;
      r->fd = -1; /* JS owns it now */
    } else {
      value = NULL;
    }
  } else {
    if (strncmp(r->syscall, "setsockopt", 10) == 0)
      snprintf(detail, sizeof detail, "%s", r->iface != NULL ? r->iface : "");
    else if (strcmp(r->syscall, "bind") == 0)
      snprintf(detail, sizeof detail, "%s", r->local_text != NULL ? r->local_text : "");
    else
      snprintf(detail, sizeof detail, "%s%s%s:%d", r->remote.family == AF_INET6 ? "[" : "", r->host,
               r->remote.family == AF_INET6 ? "]" : "", r->port);
    value = errno_error(env, r->err, r->syscall, NULL, r->host, r->port, detail);
    if (value != NULL && r->local_text != NULL) set_string(env, value, "localAddress", r->local_text);
    if (value != NULL && r->iface != NULL) set_string(env, value, "iface", r->iface);
  }
  return value;
}

static const job_ops tcp_ops = {"stas_native.tcpConnectBound", tcp_execute, tcp_result, tcp_release};

/**
 * tcpConnectBound({host, port, localAddress?, iface?, timeoutMs}): Promise<number>
 * Role: validate (host and localAddress are IP literals of the same family; an IPv6 literal may carry
 * a %zone), then connect on the thread pool. The fd it resolves with is connected, non-blocking and
 * close-on-exec; the caller owns it (new net.Socket({ fd })).
 */
static napi_value TcpConnectBound(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, 1)) return NULL;
  if (!is_object_arg(env, argv[0], "opts")) return NULL;
  tcp_req *r = job_new(env, sizeof *r, &tcp_ops);
  if (r == NULL) return NULL;
  r->fd = -1;
  double port, timeout;
  if (!get_string_prop(env, argv[0], "opts", "host", MAX_IP_LITERAL, false, &r->host)) goto fail;
  if (!parse_ip_literal(r->host, &r->remote)) {
    napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS", "opts.host must be an IPv4 or IPv6 address literal");
    goto fail;
  }
  if (!get_integer_prop(env, argv[0], "opts", "port", 1, 65535, false, 0, &port)) goto fail;
  if (!get_string_prop(env, argv[0], "opts", "localAddress", MAX_IP_LITERAL, true, &r->local_text)) goto fail;
  if (r->local_text != NULL) {
    if (!parse_ip_literal(r->local_text, &r->local)) {
      napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS",
                            "opts.localAddress must be an IPv4 or IPv6 address literal");
      goto fail;
    }
    if (r->local.family != r->remote.family) {
      napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS",
                            "opts.localAddress must be of the same address family as opts.host");
      goto fail;
    }
    r->has_local = true;
  }
  if (!get_string_prop(env, argv[0], "opts", "iface", 255, true, &r->iface)) goto fail;
  if (!get_integer_prop(env, argv[0], "opts", "timeoutMs", 1, INT_MAX, false, 0, &timeout)) goto fail;
  r->port = (int)port;
  r->timeout_ms = (int)timeout;

  return job_start(env, &r->job);

fail:
  job_free(env, &r->job);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* scanNvmeControllers                                                                               */
/* ------------------------------------------------------------------------------------------------ */

/** Most attributes one scan reads per controller, and the bytes kept of each. */
#define SCAN_MAX_ATTRS 32
#define SCAN_ATTR_BYTES 4096

/** One controller directory as the worker found it. */
typedef struct {
  char name[32];   /* nvme<N> */
  bool gone;       /* its directory could not be listed (removed meanwhile) */
  bool has_ns;     /* an entry named nvme<N>n<M> or nvme<N>c<C>n<M> (a namespace) */
  char **values;   /* nattrs strings, NULL where the attribute could not be read */
} scan_ctrl;

typedef struct {
  job job;
  char *root;
  size_t nattrs;
  char *attrs[SCAN_MAX_ATTRS];
  scan_ctrl *ctrls;
  size_t count;
  int err; /* errno of opendir(root), 0 on success */
} scan_req;

/** Role: release everything a scan_req holds. Main thread. */
static void scan_release(napi_env env, job *j) {
  (void)env;
  scan_req *r = (scan_req *)j;
  for (size_t i = 0; i < r->count; i++) {
    if (r->ctrls[i].values == NULL) continue;
    for (size_t a = 0; a < r->nattrs; a++) free(r->ctrls[i].values[a]);
    free(r->ctrls[i].values);
  }
  free(r->ctrls);
  for (size_t a = 0; a < r->nattrs; a++) free(r->attrs[a]);
  free(r->root);
}

/** Role: "nvme" followed by digits only (a controller, not nvme-fabrics or a namespace). */
static bool is_ctrl_name(const char *n) {
  if (strncmp(n, "nvme", 4) != 0 || n[4] == '\0') return false;
  for (const char *c = n + 4; *c != '\0'; c++)
    if (*c < '0' || *c > '9') return false;
  return true;
}

/** Role: skip a run of at least one digit; NULL if there is none. */
static const char *skip_digits(const char *c) {
  if (*c < '0' || *c > '9') return NULL;
  while (*c >= '0' && *c <= '9') c++;
  return c;
}

/** Role: a namespace entry: nvme<D>n<D> or nvme<D>c<D>n<D>. */
static bool is_ns_name(const char *n) {
  if (strncmp(n, "nvme", 4) != 0) return false;
  const char *c = skip_digits(n + 4);
  if (c == NULL) return false;
  if (*c == 'c' && (c = skip_digits(c + 1)) == NULL) return false;
  if (*c != 'n') return false;
  c = skip_digits(c + 1);
  return c != NULL && *c == '\0';
}

/** Role: the first SCAN_ATTR_BYTES - 1 bytes of a file as a new string, or NULL if it cannot be read. */
static char *read_small_file(const char *path) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return NULL;
  char *buf = malloc(SCAN_ATTR_BYTES);
  ssize_t n = -1;
  if (buf != NULL) do {
      n = read(fd, buf, SCAN_ATTR_BYTES - 1);
    } while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/**
 * Role: the worker (no Node-API): list root, and for each controller directory read the attributes and look
 * for a namespace entry. A controller that vanishes midway is marked gone.
 */
static void scan_execute(job *j) {
  scan_req *r = (scan_req *)j;
  DIR *dir = opendir(r->root);
  if (dir == NULL) {
    r->err = errno;
    return;
  }
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (!is_ctrl_name(e->d_name) || strlen(e->d_name) >= sizeof r->ctrls[0].name) continue;
    if (r->count == cap) {
      size_t next = cap == 0 ? 64 : cap * 2;
      scan_ctrl *grown = realloc(r->ctrls, next * sizeof *grown);
      if (grown == NULL) break; /* out of memory: report what was found */
      r->ctrls = grown;
      cap = next;
    }
    scan_ctrl *c = &r->ctrls[r->count++];
    memset(c, 0, sizeof *c);
    strcpy(c->name, e->d_name);
  }
  closedir(dir);
  char path[PATH_MAX];
  for (size_t i = 0; i < r->count; i++) {
    scan_ctrl *c = &r->ctrls[i];
    c->values = calloc(r->nattrs, sizeof *c->values);
    for (size_t a = 0; c->values != NULL && a < r->nattrs; a++) {
      if (snprintf(path, sizeof path, "%s/%s/%s", r->root, c->name, r->attrs[a]) < (int)sizeof path)
        c->values[a] = read_small_file(path);
    }
    if (snprintf(path, sizeof path, "%s/%s", r->root, c->name) >= (int)sizeof path) {
      c->gone = true;
      continue;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
      c->gone = true;
      continue;
    }
    while (!c->has_ns && (e = readdir(d)) != NULL) c->has_ns = is_ns_name(e->d_name);
    closedir(d);
  }
}

/** Role: [[name, hasNamespaces, value0, value1, ...], ...] (gone controllers left out) or the errno error. */
static napi_value scan_result(napi_env env, job *j, bool cancelled, bool *resolve) {
  scan_req *r = (scan_req *)j;
  napi_value out = NULL;
  bool ok = false;
  if (cancelled) {
    out = errno_error(env, ECANCELED, "opendir", r->root, NULL, 0, NULL);
  } else if (r->err != 0) {
    out = errno_error(env, r->err, "opendir", r->root, NULL, 0, NULL);
  } else if (napi_create_array(env, &out) == napi_ok) {
    ok = true;
    uint32_t k = 0;
    for (size_t i = 0; ok && i < r->count; i++) {
      scan_ctrl *c = &r->ctrls[i];
      if (c->gone || c->values == NULL) continue;
      napi_value row, v;
      ok = napi_create_array_with_length(env, r->nattrs + 2, &row) == napi_ok &&
           napi_create_string_utf8(env, c->name, NAPI_AUTO_LENGTH, &v) == napi_ok &&
           napi_set_element(env, row, 0, v) == napi_ok && napi_get_boolean(env, c->has_ns, &v) == napi_ok &&
           napi_set_element(env, row, 1, v) == napi_ok;
      for (size_t a = 0; ok && a < r->nattrs; a++) {
        ok = (c->values[a] == NULL ? napi_get_null(env, &v)
                                   : napi_create_string_utf8(env, c->values[a], NAPI_AUTO_LENGTH, &v)) == napi_ok &&
             napi_set_element(env, row, (uint32_t)(a + 2), v) == napi_ok;
      }
      ok = ok && napi_set_element(env, out, k++, row) == napi_ok;
    }
  }
  *resolve = ok;
  return out;
}

static const job_ops scan_ops = {"stas_native.scanNvmeControllers", scan_execute, scan_result, scan_release};

/**
 * scanNvmeControllers(root: string, attrs: string[]): Promise<[name, hasNamespaces, ...values][]>
 * Role: one thread-pool job for a whole scan of /sys/class/nvme (root): the directory listing, `attrs` (1 to
 * SCAN_MAX_ATTRS plain file names) of every nvme<N> in it, and whether it has a namespace. A value is the file's
 * text (its first 4095 bytes) or null if it could not be read. Rejects with the errno error of opendir(root).
 */
static napi_value ScanNvmeControllers(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, 2)) return NULL;
  scan_req *r = job_new(env, sizeof *r, &scan_ops);
  if (r == NULL) return NULL;
  bool is_array = false;
  uint32_t n = 0;
  if (!get_string(env, argv[0], "root", PATH_MAX - 1, false, &r->root)) goto fail;
  if (!napi_ok_or_throw(env, napi_is_array(env, argv[1], &is_array))) goto fail;
  if (is_array && !napi_ok_or_throw(env, napi_get_array_length(env, argv[1], &n))) goto fail;
  if (!is_array || n == 0 || n > SCAN_MAX_ATTRS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "attrs must be an array of 1 to 32 attribute names");
    goto fail;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (!napi_ok_or_throw(env, napi_get_element(env, argv[1], i, &item))) goto fail;
    if (!get_string(env, item, "attrs[]", 64, false, &r->attrs[i])) goto fail;
    r->nattrs = i + 1;
    if (strchr(r->attrs[i], '/') != NULL || strcmp(r->attrs[i], ".") == 0 || strcmp(r->attrs[i], "..") == 0) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "attrs[] must be plain file names");
      goto fail;
    }
  }
  return job_start(env, &r->job);

fail:
  job_free(env, &r->job);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* fabricsConnect, writeAttribute: one file written (and read back) per job                         */
/* ------------------------------------------------------------------------------------------------ */

/** Longest text either writes: the kernel takes at most a page (connect options, a sysfs attribute). */
#define FILE_TEXT_MAX 4096
/** Longest reply fabricsConnect reads back (`instance=N,cntlid=M` is well under it). */
#define FABRICS_REPLY_MAX 128

/** One fabricsConnect or writeAttribute call: write `text` to `path` (fabricsConnect also reads the reply). */
typedef struct {
  job job;
  char *path;
  char *text;
  char reply[FABRICS_REPLY_MAX + 1];
  int err;             /* errno of the failed call, 0 on success */
  const char *syscall; /* the failed call: "open", "write" or "read" */
} file_req;

/** Role: release what a file_req holds. Main thread. */
static void file_release(napi_env env, job *j) {
  (void)env;
  file_req *r = (file_req *)j;
  free(r->path);
  free(r->text);
}

/**
 * Role: worker thread: open `path` with `flags` and write all of `text`. Returns the descriptor (the caller
 * closes it), or -1 with r->err and r->syscall set (nothing left open).
 */
static int file_open_write(file_req *r, int flags) {
  int fd;
  do {
    fd = open(r->path, flags | O_CLOEXEC | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    r->err = errno;
    r->syscall = "open";
    return -1;
  }
  size_t len = strlen(r->text), done = 0;
  while (done < len) {
    ssize_t n = write(fd, r->text + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r->err = n < 0 ? errno : EIO;
      r->syscall = "write";
      close(fd);
      return -1;
    }
    done += (size_t)n;
  }
  return fd;
}

/**
 * Role: fabricsConnect's blocking part: open the fabrics device read-write, write the option string (the kernel
 * creates the controller during this write, under its fabrics mutex), read the reply at offset 0 on the same
 * descriptor, close. One job instead of four round trips through the pool.
 */
static void fabrics_execute(job *j) {
  file_req *r = (file_req *)j;
  int fd = file_open_write(r, O_RDWR);
  if (fd < 0) return;
  ssize_t n;
  do {
    n = pread(fd, r->reply, FABRICS_REPLY_MAX, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    r->err = errno;
    r->syscall = "read";
  } else {
    r->reply[n] = '\0';
  }
  close(fd);
}

/** Role: writeAttribute's blocking part: open write-only, write the whole text, close. */
static void attr_execute(job *j) {
  file_req *r = (file_req *)j;
  int fd = file_open_write(r, O_WRONLY);
  if (fd >= 0) close(fd);
}

/** Role: the errno error (with `syscall` and `path`) of a failed or cancelled file job, or NULL if it succeeded. */
static napi_value file_error(napi_env env, file_req *r, bool cancelled) {
  if (cancelled) return errno_error(env, ECANCELED, "write", r->path, NULL, 0, NULL);
  if (r->err != 0) return errno_error(env, r->err, r->syscall, r->path, NULL, 0, NULL);
  return NULL;
}

/** Role: back on the main thread: the reply text, or the errno error. */
static napi_value fabrics_result(napi_env env, job *j, bool cancelled, bool *resolve) {
  file_req *r = (file_req *)j;
  if (cancelled || r->err != 0) return file_error(env, r, cancelled);
  napi_value text;
  /* Latin-1, not UTF-8: whatever bytes came back reach the caller as characters, none dropped or merged. */
  if (napi_create_string_latin1(env, r->reply, NAPI_AUTO_LENGTH, &text) != napi_ok) return NULL;
  *resolve = true;
  return text;
}

/** Role: back on the main thread: undefined, or the errno error. */
static napi_value attr_result(napi_env env, job *j, bool cancelled, bool *resolve) {
  file_req *r = (file_req *)j;
  if (cancelled || r->err != 0) return file_error(env, r, cancelled);
  napi_value undefined;
  if (napi_get_undefined(env, &undefined) != napi_ok) return NULL;
  *resolve = true;
  return undefined;
}

static const job_ops fabrics_ops = {"stas_native.fabricsConnect", fabrics_execute, fabrics_result, file_release};
static const job_ops attr_ops = {"stas_native.writeAttribute", attr_execute, attr_result, file_release};

/**
 * Role: the shared front of fabricsConnect and writeAttribute: (path, text) checked (1 to FILE_TEXT_MAX bytes, no
 * NUL; `text_name` names the argument in errors) and queued as a job of `ops`.
 */
static napi_value file_job_start(napi_env env, napi_callback_info info, const job_ops *ops, const char *text_name) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, 2)) return NULL;
  file_req *r = job_new(env, sizeof *r, ops);
  if (r == NULL) return NULL;
  if (!get_string(env, argv[0], "path", PATH_MAX - 1, false, &r->path) ||
      !get_string(env, argv[1], text_name, FILE_TEXT_MAX, false, &r->text)) {
    job_free(env, &r->job);
    return NULL;
  }
  return job_start(env, &r->job);
}

/**
 * fabricsConnect(path: string, options: string): Promise<string>
 * Role: one connect through the NVMe over Fabrics device in one thread-pool job: open(path, O_RDWR), write the
 * option string, pread the reply at offset 0 (up to FABRICS_REPLY_MAX bytes; NUL bytes end it), close. Resolves
 * with the reply; rejects with the errno error of the failing call (`syscall` open, write or read; `path`).
 */
static napi_value FabricsConnect(napi_env env, napi_callback_info info) {
  return file_job_start(env, info, &fabrics_ops, "options");
}

/**
 * writeAttribute(path: string, text: string): Promise<void>
 * Role: open(path, O_WRONLY), write all of `text`, close, in one thread-pool job: a sysfs attribute write such as
 * delete_controller, whose write returns when the kernel is done. Rejects with the errno error of the failing call
 * (`syscall` open or write; `path`).
 */
static napi_value WriteAttribute(napi_env env, napi_callback_info info) {
  return file_job_start(env, info, &attr_ops, "text");
}

/* ------------------------------------------------------------------------------------------------ */
/* Module                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

/** Role: module initialization: export the functions. */
static napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"adminPassthru", NULL, AdminPassthru, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ueventOpen", NULL, UeventOpen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ueventWatch", NULL, UeventWatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ueventClose", NULL, UeventClose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ueventRef", NULL, UeventRef, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ueventUnref", NULL, UeventUnref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpConnectBound", NULL, TcpConnectBound, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scanNvmeControllers", NULL, ScanNvmeControllers, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fabricsConnect", NULL, FabricsConnect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeAttribute", NULL, WriteAttribute, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
