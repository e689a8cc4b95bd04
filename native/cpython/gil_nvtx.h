/*
 * gilwatch: NVTX ranges for the CPython GIL.
 *
 * Copied next to ceval_gil.{h,c} by `gilwatch python build` and included by the version's
 * patch (python3.X.patch in this directory). Compiled out unless Py_GIL_NVTX is defined.
 *
 * Domain "GIL NVTX Domain", registered strings (the names Nsight users already use):
 *   "Waiting for GIL"   from seeing the GIL taken (contended acquisitions only)
 *                       until this thread takes it;
 *   "Holding GIL"       from the `locked = 1` store until just before `locked = 0`,
 *                       so two holds of one GIL can never overlap;
 *   mark "GIL drop request"  when a waiter times out and asks the holder to drop
 *                       (a forced switch).
 * Payload: the interpreter id (3.12+, where each interpreter may own a GIL); none on
 * older versions, which have one GIL per process.
 *
 * Per-thread state (none / waiting / holding, and which GIL) makes every helper idempotent,
 * so each exit path closes exactly what it opened.
 */
#ifndef GILWATCH_GIL_NVTX_H
#define GILWATCH_GIL_NVTX_H

#ifdef Py_GIL_NVTX
#include <nvtx3/nvToolsExt.h>

enum { GIL_NVTX_NONE = 0, GIL_NVTX_WAITING = 1, GIL_NVTX_HOLDING = 2 };

static nvtxDomainHandle_t gil_nvtx_domain;
static nvtxStringHandle_t gil_nvtx_waiting;
static nvtxStringHandle_t gil_nvtx_holding;
static nvtxStringHandle_t gil_nvtx_drop_request;
static _Thread_local int gil_nvtx_state;
static _Thread_local const void *gil_nvtx_gil; /* the GIL the open range belongs to */

/* Called from create_gil(). Racing callers store the same handles. */
static void
gil_nvtx_init(void)
{
    if (gil_nvtx_domain != NULL) {
        return;
    }
    nvtxDomainHandle_t domain = nvtxDomainCreateA("GIL NVTX Domain");
    gil_nvtx_waiting = nvtxDomainRegisterStringA(domain, "Waiting for GIL");
    gil_nvtx_holding = nvtxDomainRegisterStringA(domain, "Holding GIL");
    gil_nvtx_drop_request = nvtxDomainRegisterStringA(domain, "GIL drop request");
    gil_nvtx_domain = domain;
}

static inline void
gil_nvtx_attributes(nvtxEventAttributes_t *attr, nvtxStringHandle_t message,
                    long long interp_id)
{
    *attr = (nvtxEventAttributes_t){0};
    attr->version = NVTX_VERSION;
    attr->size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    attr->messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    attr->message.registered = message;
    if (interp_id >= 0) {
        attr->payloadType = NVTX_PAYLOAD_TYPE_INT64;
        attr->payload.llValue = interp_id;
    }
}

static inline void
gil_nvtx_push(nvtxStringHandle_t message, long long interp_id)
{
    nvtxEventAttributes_t attr;
    gil_nvtx_attributes(&attr, message, interp_id);
    nvtxDomainRangePushEx(gil_nvtx_domain, &attr);
}

/* The GIL is taken by another thread: start waiting (no-op if already waiting). */
static inline void
gil_nvtx_begin_wait(const void *gil, long long interp_id)
{
    if (gil_nvtx_state == GIL_NVTX_NONE) {
        gil_nvtx_push(gil_nvtx_waiting, interp_id);
        gil_nvtx_state = GIL_NVTX_WAITING;
        gil_nvtx_gil = gil;
    }
}

/* Just after `locked = 1`: the wait (if any) ends and the hold begins. */
static inline void
gil_nvtx_begin_hold(const void *gil, long long interp_id)
{
    if (gil_nvtx_state == GIL_NVTX_HOLDING) {
        return;
    }
    if (gil_nvtx_state == GIL_NVTX_WAITING) {
        nvtxDomainRangePop(gil_nvtx_domain);
    }
    gil_nvtx_push(gil_nvtx_holding, interp_id);
    gil_nvtx_state = GIL_NVTX_HOLDING;
    gil_nvtx_gil = gil;
}

/* Ends the open wait or hold on `gil` (NULL: on any GIL). Just before `locked = 0`,
   and on every path that leaves take_gil() without the GIL. */
static inline void
gil_nvtx_end(const void *gil)
{
    if (gil_nvtx_state != GIL_NVTX_NONE && (gil == NULL || gil == gil_nvtx_gil)) {
        nvtxDomainRangePop(gil_nvtx_domain);
        gil_nvtx_state = GIL_NVTX_NONE;
        gil_nvtx_gil = NULL;
    }
}

/* Fork child: the child is a new process to the tool; nothing is open there. */
static inline void
gil_nvtx_forget(void)
{
    gil_nvtx_state = GIL_NVTX_NONE;
    gil_nvtx_gil = NULL;
}

static inline void
gil_nvtx_mark_drop_request(long long interp_id)
{
    nvtxEventAttributes_t attr;
    gil_nvtx_attributes(&attr, gil_nvtx_drop_request, interp_id);
    nvtxDomainMarkEx(gil_nvtx_domain, &attr);
}

#else /* !Py_GIL_NVTX */
#define gil_nvtx_init() ((void)0)
#define gil_nvtx_begin_wait(gil, interp_id) ((void)0)
#define gil_nvtx_begin_hold(gil, interp_id) ((void)0)
#define gil_nvtx_end(gil) ((void)0)
#define gil_nvtx_forget() ((void)0)
#define gil_nvtx_mark_drop_request(interp_id) ((void)0)
#endif

#endif /* GILWATCH_GIL_NVTX_H */
