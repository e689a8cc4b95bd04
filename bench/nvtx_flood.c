/*
 * Benchmark load: THREADS threads issuing NVTX push+pop pairs in the GIL domain at a paced
 * total RATE (pairs/s) for SECONDS, through whatever injection NVTX_INJECTION64_PATH names.
 *
 *   nvtx_flood RATE SECONDS THREADS
 * Prints "pairs <issued>".
 */
#include <nvtx3/nvToolsExt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double rate_per_thread;
static double seconds;
static nvtxDomainHandle_t domain;
static nvtxEventAttributes_t hold;
static uint64_t issued[256];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg) {
  long index = (long)arg;
  double start = now(), end = start + seconds;
  uint64_t done = 0;
  for (;;) {
    double t = now();
    if (t >= end) break;
    uint64_t due = (uint64_t)((t - start) * rate_per_thread);
    while (done < due) { /* catch up in a burst, then sleep a little */
      nvtxDomainRangePushEx(domain, &hold);
      nvtxDomainRangePop(domain);
      done++;
    }
    struct timespec pause = {0, 200000};
    nanosleep(&pause, NULL);
  }
  issued[index] = done;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: nvtx_flood RATE SECONDS THREADS\n");
    return 2;
  }
  int threads = atoi(argv[3]);
  if (threads < 1 || threads > 256) return 2;
  rate_per_thread = atof(argv[1]) / threads;
  seconds = atof(argv[2]);
  domain = nvtxDomainCreateA("GIL NVTX Domain");
  hold.version = NVTX_VERSION;
  hold.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  hold.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  hold.message.registered = nvtxDomainRegisterStringA(domain, "Holding GIL");
  pthread_t ids[256];
  for (long i = 0; i < threads; i++) pthread_create(&ids[i], NULL, run, (void *)i);
  uint64_t total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    total += issued[i];
  }
  printf("pairs %llu\n", (unsigned long long)total);
  return 0;
}
