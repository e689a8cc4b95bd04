/*
 * Benchmark: cost of an NVTX push+pop pair in the GIL domain, exactly as the CPython patch
 * issues them, next to the cost of one clock_gettime(CLOCK_MONOTONIC) in the same process.
 * Which injection is loaded (none, clock-only, gilwatch) is up to NVTX_INJECTION64_PATH.
 *
 *   nvtx_cost ROUNDS BURSTS PAIRS_PER_BURST
 *
 * Work comes in bursts with a 12 ms pause between them, like GIL traffic, so an injection's
 * background thread can drain; only the bursts are timed. Prints one line per round:
 *   clock_ns=<per call> pair_ns=<per push+pop>
 */
#include <nvtx3/nvToolsExt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: nvtx_cost ROUNDS BURSTS PAIRS_PER_BURST\n");
    return 2;
  }
  int rounds = atoi(argv[1]), bursts = atoi(argv[2]), pairs = atoi(argv[3]);
  nvtxDomainHandle_t domain = nvtxDomainCreateA("GIL NVTX Domain");
  nvtxEventAttributes_t attr = {0};
  attr.version = NVTX_VERSION;
  attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  attr.message.registered = nvtxDomainRegisterStringA(domain, "Holding GIL");
  for (int i = 0; i < 1000; i++) { /* warm up: first-event registration, caches */
    nvtxDomainRangePushEx(domain, &attr);
    nvtxDomainRangePop(domain);
  }
  usleep(20000);
  volatile long sink = 0;
  for (int r = 0; r < rounds; r++) {
    double clock_total = 0, pair_total = 0;
    for (int b = 0; b < bursts; b++) {
      double t0 = now_ns();
      for (int i = 0; i < pairs; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sink += ts.tv_nsec;
      }
      double t1 = now_ns();
      for (int i = 0; i < pairs; i++) {
        nvtxDomainRangePushEx(domain, &attr);
        nvtxDomainRangePop(domain);
      }
      double t2 = now_ns();
      clock_total += t1 - t0;
      pair_total += t2 - t1;
      usleep(12000);
    }
    printf("clock_ns=%.2f pair_ns=%.2f\n", clock_total / ((double)bursts * pairs),
           pair_total / ((double)bursts * pairs));
    fflush(stdout);
  }
  return (int)(sink & 0);
}
