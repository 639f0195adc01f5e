/**
 * Sizes libuv's thread pool before anything uses it (import this first). A daemon's file-system calls share the
 * pool with connect writes to /dev/nvme-fabrics and admin commands, which block for as long as the kernel takes;
 * with the default 4 threads, a few slow ones would hold up every other file operation. An admin's own
 * UV_THREADPOOL_SIZE is left alone.
 */
process.env.UV_THREADPOOL_SIZE ??= '12';
