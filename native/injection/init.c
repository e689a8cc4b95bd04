/*
 * Entry point: InitializeInjectionNvtx2, called by every NVTX client module (CPython, a C
 * extension, libtorch...) on its first NVTX call. One shared runtime, every caller's
 * tables filled. Also: fork handling and the exit flush.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../protocol/gil_direct.h"
#include "../protocol/gil_names.h"
#include "frame_reader.h"
#include "nvtx_api.h"
#include "runtime.h"

gw_runtime gw_rt;

static pthread_once_t runtime_once = PTHREAD_ONCE_INIT;
static int runtime_ok;

static uint64_t new_instance_id(void) {
  uint64_t id = 0;
  if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id) id = gw_now_ns() ^ ((uint64_t)getpid() << 40);
  return id ? id : 1;
}

/* ---- fork: the child is a new process to the server ---- */

static void before_fork(void) {
  gw_sender_before_fork(); /* first: no new frame question after this */
  gw_frames_before_fork();
}
static void after_fork_parent(void) { gw_sender_after_fork_parent(); }

static void after_fork_child(void) {
  gw_rt.pid = getpid();
  gw_rt.instance = new_instance_id();
  gw_rt.lost_threads = 0;

  /* Only the forking thread survives. Its ring may hold the parent's events and its stacks
   * the parent's open ranges (CPython resets its GIL state in the child without popping). */
  gw_sampler_after_fork_child(); /* before the threads it points to are freed */
  gw_frames_after_fork_child();
  gw_thread *survivor = gw_tls_thread;
  /* The child counts in a region of its own, from zero (the parent's is shared with it).
   * Without memory for one it keeps a private copy of the parent's: never a shared write. */
  if (!gw_region_create()) {
    void *copy = mmap(NULL, GW_SHARED_REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy != MAP_FAILED) memcpy(copy, gw_rt.region, GW_SHARED_REGION_BYTES);
    gw_rt.region = copy != MAP_FAILED ? copy : gw_rt.region;
    gw_rt.region_file = 0;
  }
  gw_thread *thread = gw_rt.threads;
  while (thread) {
    gw_thread *next = thread->next;
    if (thread != survivor) {
      free(thread->ring);
      free(thread);
    }
    thread = next;
  }
  gw_rt.threads = survivor;
  if (survivor) {
    survivor->next = NULL;
    survivor->sender.tail = survivor->head;
    survivor->tail_seen = survivor->head;
    survivor->sender.long_tail = survivor->long_head;
    survivor->dropped = 0;
    survivor->unmatched_pops = 0;
    survivor->tid = (pid_t)syscall(SYS_gettid); /* the forking thread is the child's main thread */
    survivor->slot = gw_region_claim(survivor->id, survivor->tid,
                                     survivor->sender.name[0] ? survivor->sender.name : survivor->start_name);
    for (uint32_t i = 0; i < survivor->stack_count; i++) survivor->stacks[i].depth = 0;
    gw_thread_forget_connection(survivor);
  }
  gw_sender_after_fork_child();
}

static void start_runtime(void) {
  char why[512];
  if (!gw_config_load(&gw_rt.config, why, sizeof why)) {
    fprintf(stderr, "gilwatch: %s; NVTX monitoring is off for this process\n", why);
    return;
  }
  if (!gw_intern_init(&gw_rt.domains, GW_MAX_DOMAINS, 64u << 10) ||
      !gw_intern_init(&gw_rt.messages, GW_MAX_STRINGS, 1u << 20)) {
    fprintf(stderr, "gilwatch: out of memory at start; NVTX monitoring is off for this process\n");
    return;
  }
  gw_rt.domain_enabled[GW_DEFAULT_DOMAIN] = (uint8_t)gw_config_domain_enabled(&gw_rt.config, "");
  /* The GIL's message ids, known before any range so that the hot path compares integers. */
  gw_rt.gil_holding = gw_intern(&gw_rt.messages, GW_GIL_HOLDING, strlen(GW_GIL_HOLDING));
  gw_rt.gil_waiting = gw_intern(&gw_rt.messages, GW_GIL_WAITING, strlen(GW_GIL_WAITING));
  gw_rt.gil_drop_request = gw_intern(&gw_rt.messages, GW_GIL_DROP_REQUEST, strlen(GW_GIL_DROP_REQUEST));
  if (pthread_key_create(&gw_rt.exit_key, gw_thread_on_exit) != 0) return;
  gw_rt.pid = getpid();
  gw_rt.instance = new_instance_id();
  gw_rt.region_fd = -1;
  if (!gw_region_create()) {
    fprintf(stderr, "gilwatch: out of memory at start; NVTX monitoring is off for this process\n");
    return;
  }
  if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) return;
  gw_store_release(&gw_rt.started, 1);
  if (!gw_sender_start()) {
    gw_store_release(&gw_rt.started, 0);
    fprintf(stderr, "gilwatch: cannot start the sender thread; NVTX monitoring is off for this process\n");
    return;
  }
  runtime_ok = 1;
}

static void install(NvtxFunctionTable table, unsigned int size, unsigned int slot, NvtxFunctionPointer handler) {
  if (slot < size && table[slot]) *table[slot] = handler;
}

#define HANDLER(fn) ((NvtxFunctionPointer)(fn))

static int fill_core(const NvtxExportTableCallbacks *callbacks) {
  NvtxFunctionTable table = NULL;
  unsigned int size = 0;
  if (!callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &table, &size) || !table) return 0;
  install(table, size, NVTX_CBID_CORE_MarkEx, HANDLER(gw_nvtx_MarkEx));
  install(table, size, NVTX_CBID_CORE_MarkA, HANDLER(gw_nvtx_MarkA));
  install(table, size, NVTX_CBID_CORE_RangeStartEx, HANDLER(gw_nvtx_RangeStartEx));
  install(table, size, NVTX_CBID_CORE_RangeStartA, HANDLER(gw_nvtx_RangeStartA));
  install(table, size, NVTX_CBID_CORE_RangeEnd, HANDLER(gw_nvtx_RangeEnd));
  install(table, size, NVTX_CBID_CORE_RangePushEx, HANDLER(gw_nvtx_RangePushEx));
  install(table, size, NVTX_CBID_CORE_RangePushA, HANDLER(gw_nvtx_RangePushA));
  install(table, size, NVTX_CBID_CORE_RangePop, HANDLER(gw_nvtx_RangePop));
  install(table, size, NVTX_CBID_CORE_NameCategoryA, HANDLER(gw_nvtx_NameCategoryA));
  install(table, size, NVTX_CBID_CORE_NameOsThreadA, HANDLER(gw_nvtx_NameOsThreadA));
  return 1;
}

static int fill_core2(const NvtxExportTableCallbacks *callbacks) {
  NvtxFunctionTable table = NULL;
  unsigned int size = 0;
  if (!callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &table, &size) || !table) return 0;
  install(table, size, NVTX_CBID_CORE2_DomainMarkEx, HANDLER(gw_nvtx_DomainMarkEx));
  install(table, size, NVTX_CBID_CORE2_DomainRangeStartEx, HANDLER(gw_nvtx_DomainRangeStartEx));
  install(table, size, NVTX_CBID_CORE2_DomainRangeEnd, HANDLER(gw_nvtx_DomainRangeEnd));
  install(table, size, NVTX_CBID_CORE2_DomainRangePushEx, HANDLER(gw_nvtx_DomainRangePushEx));
  install(table, size, NVTX_CBID_CORE2_DomainRangePop, HANDLER(gw_nvtx_DomainRangePop));
  install(table, size, NVTX_CBID_CORE2_DomainNameCategoryA, HANDLER(gw_nvtx_DomainNameCategoryA));
  install(table, size, NVTX_CBID_CORE2_DomainRegisterStringA, HANDLER(gw_nvtx_DomainRegisterStringA));
  install(table, size, NVTX_CBID_CORE2_DomainCreateA, HANDLER(gw_nvtx_DomainCreateA));
  install(table, size, NVTX_CBID_CORE2_DomainDestroy, HANDLER(gw_nvtx_DomainDestroy));
  return 1;
}

/* Returning 0 makes NVTX unload us and turn that module's NVTX calls into no-ops. */
GW_EXPORT int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
  pthread_once(&runtime_once, start_runtime);
  if (!runtime_ok || !get_export_table) return 0;
  const NvtxExportTableCallbacks *callbacks = get_export_table(NVTX_ETID_CALLBACKS);
  if (!callbacks || callbacks->struct_size < sizeof *callbacks || !callbacks->GetModuleFunctionTable) return 0;
  int core = fill_core(callbacks);
  int core2 = fill_core2(callbacks);
  return core || core2;
}

/* For the Python thread-name hook: gives thread `tid` a name, like nvtxNameOsThreadA.
 * Works before NVTX starts the runtime (the table is static), so early names are kept. */
GW_EXPORT void gilwatch_name_thread(uint32_t tid, const char *name) { gw_name_thread(tid, name); }

/* The probe's shortcut (gil_direct.h): its GIL transitions as plain calls, once the runtime
 * runs and the probe has created the GIL domain through NVTX. */
GW_EXPORT const gw_gil_direct *gilwatch_gil_direct(void) { return runtime_ok ? gw_gil_direct_calls() : NULL; }

/* 1 once an NVTX client has started the runtime in this process. */
GW_EXPORT int gilwatch_active(void) { return runtime_ok; }

/* For callers that end the process without exit handlers (the probe's _exit): sends what is
 * buffered, waiting at most GW_EXIT_FLUSH_MS. Not in a vfork child: it shares our memory. */
GW_EXPORT void gilwatch_flush(void) {
  if (runtime_ok && getpid() == gw_rt.pid) gw_sender_flush_at_exit();
}

__attribute__((destructor)) static void flush_at_exit(void) {
  if (runtime_ok) gw_sender_flush_at_exit();
}
