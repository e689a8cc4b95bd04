/* The NVTX v3 types (from the official headers, without their implementation) and the
 * handlers this library installs in every NVTX client's callback tables. */
#ifndef GILWATCH_NVTX_API_H
#define GILWATCH_NVTX_API_H

#define NVTX_NO_IMPL
#include <nvtx3/nvToolsExt.h>

#include <stdint.h>

void gw_nvtx_MarkEx(const nvtxEventAttributes_t *attr);
void gw_nvtx_MarkA(const char *message);
nvtxRangeId_t gw_nvtx_RangeStartEx(const nvtxEventAttributes_t *attr);
nvtxRangeId_t gw_nvtx_RangeStartA(const char *message);
void gw_nvtx_RangeEnd(nvtxRangeId_t id);
int gw_nvtx_RangePushEx(const nvtxEventAttributes_t *attr);
int gw_nvtx_RangePushA(const char *message);
int gw_nvtx_RangePop(void);
void gw_nvtx_NameCategoryA(uint32_t category, const char *name);
void gw_nvtx_NameOsThreadA(uint32_t tid, const char *name);

void gw_nvtx_DomainMarkEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr);
nvtxRangeId_t gw_nvtx_DomainRangeStartEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr);
void gw_nvtx_DomainRangeEnd(nvtxDomainHandle_t domain, nvtxRangeId_t id);
int gw_nvtx_DomainRangePushEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr);
int gw_nvtx_DomainRangePop(nvtxDomainHandle_t domain);
nvtxDomainHandle_t gw_nvtx_DomainCreateA(const char *name);
void gw_nvtx_DomainDestroy(nvtxDomainHandle_t domain);
nvtxStringHandle_t gw_nvtx_DomainRegisterStringA(nvtxDomainHandle_t domain, const char *text);
void gw_nvtx_DomainNameCategoryA(nvtxDomainHandle_t domain, uint32_t category, const char *name);

/* Also exported for the Python thread-name hook (ctypes), which has no NVTX binding. */
void gw_name_thread(uint32_t tid, const char *name);

/* The probe's direct calls (gil_direct.h); NULL until the GIL domain exists. */
struct gw_gil_direct;
const struct gw_gil_direct *gw_gil_direct_calls(void);

#endif
