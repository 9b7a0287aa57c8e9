/*
 * A stand-in for libnvidia-ml.so.1 that the JNA binding is tested against: it exports the NVML entry points the
 * binding uses with nvml.h's signatures, records every call, and returns scripted values and error codes.
 * Tests script it through the fake_nvml_* functions below. Never shipped; built by the gpu-driver test build.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEVICES 8
#define MAX_SCRIPTED 32
#define LOG_SIZE 65536

typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;
typedef struct { unsigned long long total; unsigned long long free; unsigned long long used; } nvmlMemory_t;

typedef struct {
  int power_mw, sm_clock, temp, util_gpu, util_mem, limit_mw, locked_min, locked_max;
  unsigned long long energy_mj, energy_step_mj, mem_total, mem_used, reasons;
} device_t;

static device_t devices[MAX_DEVICES];
static int device_count = 2;
static int initialized = 0;
static int init_count = 0;
static char call_log[LOG_SIZE];
static size_t log_len = 0;
static struct { char fn[96]; int code; } scripted[MAX_SCRIPTED];
static int scripted_n = 0;

static void record(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(call_log + log_len, LOG_SIZE - log_len, fmt, ap);
  va_end(ap);
  if (n > 0 && log_len + (size_t)n + 1 < LOG_SIZE) {
    log_len += (size_t)n;
    call_log[log_len++] = '\n';
    call_log[log_len] = 0;
  }
}

static int scripted_error(const char *fn) {
  for (int i = 0; i < scripted_n; i++)
    if (strcmp(scripted[i].fn, fn) == 0) return scripted[i].code;
  return 0;
}

/* ---- scripting API (not part of NVML) ---- */

void fake_nvml_reset(int count) {
  device_count = count;
  initialized = 0;
  init_count = 0;
  log_len = 0;
  call_log[0] = 0;
  scripted_n = 0;
  for (int i = 0; i < MAX_DEVICES; i++) {
    device_t d = {0};
    d.power_mw = 71000 + 1000 * i;
    d.sm_clock = 345;
    d.temp = 31 + i;
    d.limit_mw = 700000;
    d.locked_min = -1;
    d.locked_max = -1;
    d.energy_mj = 1000000ULL * (i + 1);
    d.energy_step_mj = 0;
    d.mem_total = 85520809984ULL;
    d.mem_used = 553648128ULL;
    d.reasons = 0x1ULL;
    devices[i] = d;
  }
}

void fake_nvml_fail(const char *fn, int code) {
  for (int i = 0; i < scripted_n; i++)
    if (strcmp(scripted[i].fn, fn) == 0) { scripted[i].code = code; return; }
  if (scripted_n < MAX_SCRIPTED) {
    strncpy(scripted[scripted_n].fn, fn, sizeof scripted[scripted_n].fn - 1);
    scripted[scripted_n].code = code;
    scripted_n++;
  }
}

void fake_nvml_set(int dev, const char *key, long long value) {
  if (dev < 0 || dev >= MAX_DEVICES) return;
  device_t *d = &devices[dev];
  if (!strcmp(key, "power_mw")) d->power_mw = (int)value;
  else if (!strcmp(key, "sm_clock")) d->sm_clock = (int)value;
  else if (!strcmp(key, "temp")) d->temp = (int)value;
  else if (!strcmp(key, "util_gpu")) d->util_gpu = (int)value;
  else if (!strcmp(key, "util_mem")) d->util_mem = (int)value;
  else if (!strcmp(key, "energy_mj")) d->energy_mj = (unsigned long long)value;
  else if (!strcmp(key, "energy_step_mj")) d->energy_step_mj = (unsigned long long)value;
  else if (!strcmp(key, "mem_used")) d->mem_used = (unsigned long long)value;
  else if (!strcmp(key, "reasons")) d->reasons = (unsigned long long)value;
}

long long fake_nvml_get(int dev, const char *key) {
  if (dev < 0 || dev >= MAX_DEVICES) return -1;
  device_t *d = &devices[dev];
  if (!strcmp(key, "locked_min")) return d->locked_min;
  if (!strcmp(key, "locked_max")) return d->locked_max;
  if (!strcmp(key, "limit_mw")) return d->limit_mw;
  if (!strcmp(key, "initialized")) return initialized;
  if (!strcmp(key, "init_count")) return init_count;
  return -1;
}

const char *fake_nvml_calls(void) { return call_log; }

/* ---- NVML ---- */

#define CHECK(name)                          \
  do {                                       \
    int e_ = scripted_error(name);           \
    if (e_) return e_;                       \
  } while (0)
#define NEED_INIT() do { if (!initialized) return 1; } while (0)
#define DEV(h) ((device_t *)(h))
#define IDX(h) ((int)(DEV(h) - devices))
#define VALID(h) do { if ((h) == NULL || IDX(h) < 0 || IDX(h) >= device_count) return 2; } while (0)

int nvmlInit_v2(void) {
  record("nvmlInit_v2()");
  CHECK("nvmlInit_v2");
  initialized = 1;
  init_count++;
  return 0;
}

int nvmlShutdown(void) {
  record("nvmlShutdown()");
  NEED_INIT();
  initialized = 0;
  return 0;
}

const char *nvmlErrorString(int result) {
  switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    default: return "Unknown Error";
  }
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  snprintf(version, length, "%s", "999.99-fake");
  return 0;
}

int nvmlDeviceGetCount_v2(unsigned int *count) {
  record("nvmlDeviceGetCount_v2()");
  NEED_INIT();
  CHECK("nvmlDeviceGetCount_v2");
  *count = (unsigned int)device_count;
  return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
  NEED_INIT();
  CHECK("nvmlDeviceGetHandleByIndex_v2");
  if ((int)index >= device_count) return 2;
  *device = &devices[index];
  return 0;
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length) {
  NEED_INIT(); VALID(device);
  snprintf(uuid, length, "GPU-fa4e0000-0000-4000-8000-00000000000%d", IDX(device));
  return 0;
}

int nvmlDeviceGetName(void *device, char *name, unsigned int length) {
  NEED_INIT(); VALID(device);
  snprintf(name, length, "%s", "NVIDIA H100 80GB HBM3");
  return 0;
}

int nvmlDeviceGetSupportedMemoryClocks(void *device, unsigned int *count, unsigned int *clocks) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetSupportedMemoryClocks");
  if (*count < 1 || clocks == NULL) { *count = 1; return 7; }
  clocks[0] = 2619;
  *count = 1;
  return 0;
}

int nvmlDeviceGetSupportedGraphicsClocks(void *device, unsigned int mem, unsigned int *count, unsigned int *clocks) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetSupportedGraphicsClocks");
  if (mem != 2619) return 6;
  unsigned int n = 0;
  for (int c = 1980; c >= 345; c -= 15) n++;
  if (*count < n || clocks == NULL) { *count = n; return 7; }
  unsigned int i = 0;
  for (int c = 1980; c >= 345; c -= 15) clocks[i++] = (unsigned int)c;
  *count = n;
  return 0;
}

int nvmlDeviceGetClockInfo(void *device, int type, unsigned int *clock) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetClockInfo");
  if (type == 2) { *clock = 2619; return 0; }
  *clock = (unsigned int)DEV(device)->sm_clock;
  return 0;
}

int nvmlDeviceSetGpuLockedClocks(void *device, unsigned int minMhz, unsigned int maxMhz) {
  NEED_INIT(); VALID(device);
  record("nvmlDeviceSetGpuLockedClocks(%d,%u,%u)", IDX(device), minMhz, maxMhz);
  CHECK("nvmlDeviceSetGpuLockedClocks");
  if (minMhz > maxMhz || maxMhz < 345 || minMhz > 1980) return 2;
  DEV(device)->locked_min = (int)minMhz;
  DEV(device)->locked_max = (int)maxMhz;
  return 0;
}

int nvmlDeviceResetGpuLockedClocks(void *device) {
  NEED_INIT(); VALID(device);
  record("nvmlDeviceResetGpuLockedClocks(%d)", IDX(device));
  CHECK("nvmlDeviceResetGpuLockedClocks");
  DEV(device)->locked_min = -1;
  DEV(device)->locked_max = -1;
  return 0;
}

int nvmlDeviceGetPowerManagementLimitConstraints(void *device, unsigned int *minLimit, unsigned int *maxLimit) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetPowerManagementLimitConstraints");
  *minLimit = 200000;
  *maxLimit = 700000;
  return 0;
}

int nvmlDeviceGetPowerManagementDefaultLimit(void *device, unsigned int *limit) {
  NEED_INIT(); VALID(device);
  *limit = 700000;
  return 0;
}

int nvmlDeviceGetPowerManagementLimit(void *device, unsigned int *limit) {
  NEED_INIT(); VALID(device);
  *limit = (unsigned int)DEV(device)->limit_mw;
  return 0;
}

int nvmlDeviceSetPowerManagementLimit(void *device, unsigned int limit) {
  NEED_INIT(); VALID(device);
  record("nvmlDeviceSetPowerManagementLimit(%d,%u)", IDX(device), limit);
  CHECK("nvmlDeviceSetPowerManagementLimit");
  if (limit < 200000 || limit > 700000) return 2;
  DEV(device)->limit_mw = (int)limit;
  return 0;
}

int nvmlDeviceGetPowerUsage(void *device, unsigned int *power) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetPowerUsage");
  *power = (unsigned int)DEV(device)->power_mw;
  return 0;
}

int nvmlDeviceGetTotalEnergyConsumption(void *device, unsigned long long *energy) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetTotalEnergyConsumption");
  DEV(device)->energy_mj += DEV(device)->energy_step_mj;
  *energy = DEV(device)->energy_mj;
  return 0;
}

int nvmlDeviceGetUtilizationRates(void *device, nvmlUtilization_t *u) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetUtilizationRates");
  u->gpu = (unsigned int)DEV(device)->util_gpu;
  u->memory = (unsigned int)DEV(device)->util_mem;
  return 0;
}

int nvmlDeviceGetMemoryInfo(void *device, nvmlMemory_t *m) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetMemoryInfo");
  m->total = DEV(device)->mem_total;
  m->used = DEV(device)->mem_used;
  m->free = m->total - m->used;
  return 0;
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned int *temp) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetTemperature");
  if (sensor != 0) return 2;
  *temp = (unsigned int)DEV(device)->temp;
  return 0;
}

#ifndef OLD_DRIVER /* drivers before 535 lack the "event reasons" name */
int nvmlDeviceGetCurrentClocksEventReasons(void *device, unsigned long long *reasons) {
  NEED_INIT(); VALID(device);
  CHECK("nvmlDeviceGetCurrentClocksEventReasons");
  *reasons = DEV(device)->reasons;
  return 0;
}
#endif

int nvmlDeviceGetCurrentClocksThrottleReasons(void *device, unsigned long long *reasons) {
  NEED_INIT(); VALID(device);
  record("nvmlDeviceGetCurrentClocksThrottleReasons(%d)", IDX(device));
  *reasons = DEV(device)->reasons;
  return 0;
}

__attribute__((constructor)) static void fake_nvml_load(void) { fake_nvml_reset(2); }
