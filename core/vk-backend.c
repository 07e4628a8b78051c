// vk-backend.c — the Vulkan compute backend: device selection and capabilities, buffers,
// the staging ring, command batching with fences, hazard-tracked barriers, lazily created
// pipelines and descriptor sets. The per-op recording lives in vk-ops.c.
//
// Environment:
//   VLM_VK_DEVICE=<i>                 device index for AUTO (see `vlm devices`)
//   VLM_VK_DISABLE_PUSH_DESCRIPTOR=1  use descriptor pools even when VK_KHR_push_descriptor exists
//   VLM_VK_DISABLE_F16=1              accepted; every shader is fp32 (no fp16 variants exist)
//   VLM_VK_MAX_OPS_PER_SUBMIT=<n>     dispatches per submitted batch (default 64)
//   VLM_VK_TIMEOUT_S=<s>              fence wait limit before DEVICE_LOST (default 60, 600 on CPU devices)
//   VLM_VK_PIPELINE_CACHE=<path>      load/save the VkPipelineCache there
//   VLM_VK_VALIDATE=1                 enable VK_LAYER_KHRONOS_validation when installed
//   VLM_VK_MAX_BINDING_BYTES=<n>      for tests: use a smaller maxStorageBufferRange (>= 4096), so
//                                     that tables larger than it (split into several bindings) are small
//   VLM_VK_NO_<VARIANT>=1             turn a kernel variant off (VLM_VK_NO_VEC4, VLM_VK_NO_MATVEC: variants[])
//   VLM_SELFTEST_INJECT=<kernel>      for tests: every op that runs <kernel> (an op name such as
//                                     "softmax" for its plain kernel, or a variant name such as
//                                     "unary.vec4") adds 0.25 to its F32 output, a wrong result for
//                                     the self-test (core/selftest.c) to catch
//   VLM_VK_FAULT=<kind>:<n>           inject a device fault, for tests: oom:<n> fails the n-th device
//                                     buffer allocation, lost:<n> the n-th submit (device lost),
//                                     hang:<n> drops the n-th submit so its fence never signals
//                                     (the wait times out after VLM_VK_TIMEOUT_S)
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk-internal.h"
#include "vlm-shaders.h"

#define STAGING_INITIAL (16u << 20)
#define STAGING_MAX     (256u << 20)
#define DUMMY_BYTES     256

struct vk_module {
    const char *   name;
    VkShaderModule mod;
};

struct vk_pipeline {
    const char * shader;
    uint32_t     spec[VLM_VK_MAX_SPEC];
    uint32_t     n_spec;
    VkPipeline   pipe;
};

struct vk_range {
    VkBuffer     buf;
    VkDeviceSize lo, hi;
};

struct vk_range_list {
    struct vk_range * v;
    size_t            n, cap;
};

// VLM_PROFILE=1: a timestamp before and after each dispatch of a batch, read back when its
// fence is waited for; the pair's difference goes to the op type it was recorded for.
#define VK_STAMPS 1024   // timestamps per batch (a batch is submitted early when they run out)

struct vk_slot {
    VkCommandBuffer    cb;
    VkFence            fence;
    bool               submitted;   // fence pending
    VkDescriptorPool * pools;       // pool path only
    uint32_t           n_pools, cur_pool;
    uint32_t           pool_sets;   // size of the last pool
    VkQueryPool        stamps;      // VLM_PROFILE=1 on a device with timestamps
    uint32_t           n_stamps;
    uint8_t            stamp_op[VK_STAMPS / 2];   // enum vlm_op_type of each pair
};

// The device, shared by every context made on it (a model's and its sessions'): created by
// vlm_vk_init, freed with the last context. `lock` guards the queue (vkQueueSubmit), the
// pipeline and module lists, the fault counters and the reference count.
struct vk_device {
    pthread_mutex_t  lock;
    int32_t          refs;
    VkInstance       instance;
    VkPhysicalDevice phys;
    VkDevice         dev;
    VkQueue          queue;
    uint32_t         qfam;
    double           stamp_ns;     // nanoseconds per timestamp tick; 0: the queue has no timestamps
    uint64_t         stamp_mask;   // its valid bits
    struct vlm_vk_caps caps;
    uint32_t         max_ops;
    double           max_flops;
    uint64_t         timeout_ns;

    uint32_t         variants_off;    // bit v: variant v disabled (environment or self-test)
    char             inject[32];      // VLM_SELFTEST_INJECT, "" when unset

    enum { FAULT_NONE, FAULT_OOM, FAULT_LOST, FAULT_HANG } fault;   // VLM_VK_FAULT
    uint64_t         fault_at, n_allocs, n_submits;

    VkDescriptorSetLayout dsl;
    VkPipelineLayout      layout;
    VkPipelineCache       cache;
    char *                cache_path;
    struct vk_module *    modules;
    size_t                n_modules, cap_modules;
    struct vk_pipeline *  pipes;
    size_t                n_pipes, cap_pipes;
    PFN_vkCmdPushDescriptorSetKHR push_desc;
    struct vlm_vk_buffer  dummy;
};

// One context's recording state on a shared device: its command buffers and fences, its
// staging ring and its hazard lists. Used by one thread at a time (the context's user).
struct vlm_vk {
    struct vk_device *    d;
    VkCommandPool    cmd_pool;
    struct vk_slot   slots[VLM_VK_SLOTS];
    uint32_t         cur;          // slot being recorded
    bool             recording;
    uint32_t         batch_ops;
    double           batch_flops;
    uint32_t         variants_used;   // bit v: variant v recorded since the last reset
    uint8_t          cur_op;          // the op type being recorded (VLM_PROFILE)

    struct vlm_vk_buffer  staging;
    size_t                staging_used;

    struct vk_range_list  reads, writes;   // since the last barrier
};

// ---- errors ----------------------------------------------------------------------------

static const char * vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
    }
}

static enum vlm_status vk_status(VkResult r) {
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: return VLM_STATUS_OUT_OF_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL: return VLM_STATUS_DEVICE_OOM;
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_INCOMPATIBLE_DRIVER: return VLM_STATUS_UNSUPPORTED;
    default: return VLM_STATUS_DEVICE_LOST;
    }
}

// Records a failed Vulkan call into the context; returns false so callers can `return vk_fail(...)`.
static bool vk_fail(struct vlm_ctx * x, VkResult r, const char * what) {
    vlm_ctx_fail(x, vk_status(r), "vk-backend.c: %s failed: %s (%d)", what, vk_result_str(r), (int) r);
    return false;
}

#define VK_TRY(x, expr)                                                   \
    do {                                                                  \
        VkResult vk_try_r_ = (expr);                                      \
        if (vk_try_r_ != VK_SUCCESS) return vk_fail((x), vk_try_r_, #expr); \
    } while (0)

static bool env_flag(const char * name) {
    const char * e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

// ---- device selection ------------------------------------------------------------------

static int device_type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static const char * device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

// The first family with compute (*stamp_bits: its timestampValidBits).
static bool find_compute_queue(VkPhysicalDevice pd, uint32_t * fam, uint32_t * stamp_bits) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    if (n == 0 || n > 64) return false;
    VkQueueFamilyProperties props[64];
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, props);
    // Prefer a family with compute; among those, one that also has graphics is the
    // most widely tested path, but any compute family works.
    for (uint32_t i = 0; i < n; i++)
        if ((props[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && props[i].queueCount > 0) {
            *fam = i;
            *stamp_bits = props[i].timestampValidBits;
            return true;
        }
    return false;
}

static bool has_extension(VkPhysicalDevice pd, const char * name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties * e = calloc(n, sizeof *e);
    if (!e) return false;
    bool found = false;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

static void probe_caps(VkPhysicalDevice pd, struct vlm_vk_caps * c) {
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceSubgroupProperties sg = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceMaintenance3Properties m3 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sg };
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3 };
    vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties * p = &p2.properties;
    snprintf(c->name, sizeof c->name, "%s", p->deviceName);
    c->type               = p->deviceType;
    c->api_version        = p->apiVersion;
    c->vendor_id          = p->vendorID;
    c->driver_version     = p->driverVersion;
    c->max_binding_range  = p->limits.maxStorageBufferRange;
    c->max_alloc          = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : ((uint64_t) 1 << 30);
    c->min_offset_align   = p->limits.minStorageBufferOffsetAlignment ? p->limits.minStorageBufferOffsetAlignment : 1;
    c->max_shared         = p->limits.maxComputeSharedMemorySize;
    c->max_wg_invocations = p->limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) c->max_wg_count[i] = p->limits.maxComputeWorkGroupCount[i];
    c->max_push_constants = p->limits.maxPushConstantsSize;
    c->subgroup_size      = sg.subgroupSize ? sg.subgroupSize : 1;
    c->subgroup_arith     = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                            (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);

    VkPhysicalDeviceShaderFloat16Int8Features f16 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES };
    VkPhysicalDevice16BitStorageFeatures s16 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES, .pNext = &f16 };
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16 };
    bool has_f16_ext = has_extension(pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME) || p->apiVersion >= VK_API_VERSION_1_2;
    if (!has_f16_ext) s16.pNext = NULL;
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->fp16_storage    = s16.storageBuffer16BitAccess;
    c->fp16_arith      = has_f16_ext && f16.shaderFloat16;
    c->push_descriptor = has_extension(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
            (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) && mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size >= ((uint64_t) 1 << 30))
            c->uma = true;
    }
}

// Why a device cannot be used (NULL when it can).
static const char * device_unusable(VkPhysicalDevice pd, const struct vlm_vk_caps * c) {
    uint32_t fam, stamp_bits;
    if (c->api_version < VK_API_VERSION_1_1) return "Vulkan 1.1 required";
    if (!find_compute_queue(pd, &fam, &stamp_bits)) return "no compute queue";
    if (c->max_shared < 16384) return "maxComputeSharedMemorySize < 16 KiB";
    if (c->max_push_constants < VLM_VK_PUSH_BYTES) return "maxPushConstantsSize < 128";
    if (c->max_wg_invocations < 256) return "maxComputeWorkGroupInvocations < 256";
    return NULL;
}

static VkResult create_instance(VkInstance * out, bool validate) {
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "vlm", .applicationVersion = 1,
        .pEngineName = "vlm", .engineVersion = 1, .apiVersion = VK_API_VERSION_1_1,
    };
    const char * layers[1] = { "VK_LAYER_KHRONOS_validation" };
    uint32_t n_layers = 0;
    if (validate) {
        uint32_t n = 0;
        vkEnumerateInstanceLayerProperties(&n, NULL);
        VkLayerProperties * lp = n ? calloc(n, sizeof *lp) : NULL;
        if (lp && vkEnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS)
            for (uint32_t i = 0; i < n; i++)
                if (strcmp(lp[i].layerName, layers[0]) == 0) n_layers = 1;
        free(lp);
        if (!n_layers) fprintf(stderr, "vlm: VLM_VK_VALIDATE set but VK_LAYER_KHRONOS_validation is not installed\n");
    }
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
        .enabledLayerCount = n_layers, .ppEnabledLayerNames = layers,
    };
    return vkCreateInstance(&ci, NULL, out);
}

// Enumerates devices into a malloc'd array; returns the count (0 on failure).
static uint32_t list_devices(VkInstance inst, VkPhysicalDevice ** out) {
    uint32_t n = 0;
    *out = NULL;
    if (vkEnumeratePhysicalDevices(inst, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkPhysicalDevice * d = calloc(n, sizeof *d);
    if (!d) return 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, d);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) { free(d); return 0; }
    *out = d;
    return n;
}

// AUTO: best type rank, then the earliest index. Returns -1 when none is usable.
static int pick_auto(VkPhysicalDevice * devs, uint32_t n) {
    int best = -1, best_rank = -1;
    for (uint32_t i = 0; i < n; i++) {
        struct vlm_vk_caps c;
        probe_caps(devs[i], &c);
        if (device_unusable(devs[i], &c)) continue;
        int rank = device_type_rank(c.type);
        if (rank > best_rank) { best = (int) i; best_rank = rank; }
    }
    return best;
}

// VLM_VK_DEVICE as an index, or -1 when unset / malformed.
static int env_device_index(void) {
    const char * e = getenv("VLM_VK_DEVICE");
    if (!e || !*e) return -1;
    char * end;
    long v = strtol(e, &end, 10);
    return (*end == 0 && v >= 0 && v < 1024) ? (int) v : -1;
}

int vlm_vk_print_devices(void * file) {
    FILE * f = file ? (FILE *) file : stdout;
    VkInstance inst;
    VkResult r = create_instance(&inst, false);
    if (r != VK_SUCCESS) {
        fprintf(f, "vulkan: no Vulkan loader or driver (%s)\n", vk_result_str(r));
        return 0;
    }
    VkPhysicalDevice * devs;
    uint32_t n = list_devices(inst, &devs);
    if (n == 0) fprintf(f, "vulkan: no devices\n");
    int pick = pick_auto(devs, n);
    int env = env_device_index();
    for (uint32_t i = 0; i < n; i++) {
        struct vlm_vk_caps c;
        probe_caps(devs[i], &c);
        const char * why = device_unusable(devs[i], &c);
        fprintf(f, "vulkan device %u: %s (%s, Vulkan %u.%u.%u)%s%s%s\n", i, c.name, device_type_name(c.type),
                VK_API_VERSION_MAJOR(c.api_version), VK_API_VERSION_MINOR(c.api_version),
                VK_API_VERSION_PATCH(c.api_version), (int) i == pick ? "  <- default Vulkan device" : "",
                (int) i == env ? "  <- VLM_VK_DEVICE" : "", why ? "  (unusable)" : "");
        fprintf(f, "    max storage buffer range %" PRIu64 " MiB, max allocation %" PRIu64 " MiB, shared memory %u KiB,"
                   " subgroup %u%s, fp16 %s, push descriptors %s, %s memory\n",
                c.max_binding_range >> 20, c.max_alloc >> 20, c.max_shared >> 10, c.subgroup_size,
                c.subgroup_arith ? " (arithmetic)" : "", c.fp16_arith && c.fp16_storage ? "yes" : "no",
                c.push_descriptor ? "yes" : "no", c.uma ? "unified" : "separate");
        if (why) fprintf(f, "    unusable: %s\n", why);
    }
    if (n > 0 && pick < 0) fprintf(f, "vulkan: no usable device; auto falls back to cpu\n");
    if (env >= 0 && (uint32_t) env >= n) fprintf(f, "vulkan: VLM_VK_DEVICE=%d but there are only %u devices\n", env, n);
    free(devs);
    vkDestroyInstance(inst, NULL);
    return (int) n;
}

// ---- memory ----------------------------------------------------------------------------

static int find_memory_type(const struct vk_device * d, uint32_t bits, VkMemoryPropertyFlags want) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(d->phys, &mp);
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) return (int) i;
    return -1;
}

// Creates a buffer; host = true asks for host-visible coherent memory (staging), else
// device-local (host-visible coherent preferred when the device has such memory).
static VkResult vk_buffer_create(struct vk_device * d, VkDeviceSize size, bool host, struct vlm_vk_buffer * out) {
    memset(out, 0, sizeof *out);
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(d->dev, &bi, NULL, &out->buf);
    if (r != VK_SUCCESS) return r;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, out->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    VkMemoryPropertyFlags tries[3];
    int n_tries = 0;
    if (host) {
        tries[n_tries++] = hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
        tries[n_tries++] = hv;
    } else {
        if (d->caps.uma) tries[n_tries++] = dl | hv;
        tries[n_tries++] = dl;
        tries[n_tries++] = 0;
    }
    r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    for (int t = 0; t < n_tries && r != VK_SUCCESS; t++) {
        int mt = find_memory_type(d, req.memoryTypeBits, tries[t]);
        if (mt < 0) continue;
        VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t) mt };
        r = vkAllocateMemory(d->dev, &ai, NULL, &out->mem);
        if (r == VK_SUCCESS && (tries[t] & hv) == hv) {
            if (vkMapMemory(d->dev, out->mem, 0, VK_WHOLE_SIZE, 0, &out->map) != VK_SUCCESS) out->map = NULL;
        }
    }
    if (r != VK_SUCCESS) { vkDestroyBuffer(d->dev, out->buf, NULL); out->buf = VK_NULL_HANDLE; return r; }
    r = vkBindBufferMemory(d->dev, out->buf, out->mem, 0);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(d->dev, out->buf, NULL);
        vkFreeMemory(d->dev, out->mem, NULL);
        memset(out, 0, sizeof *out);
        return r;
    }
    out->size = size;
    return VK_SUCCESS;
}

static void vk_buffer_destroy(struct vk_device * d, struct vlm_vk_buffer * b) {
    if (b->buf) vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem) vkFreeMemory(d->dev, b->mem, NULL);   // unmaps implicitly
    memset(b, 0, sizeof *b);
}

// ---- commands --------------------------------------------------------------------------

static void full_barrier(VkCommandBuffer cb, VkAccessFlags dst_access, VkPipelineStageFlags dst_stage) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
        .dstAccessMask = dst_access,
    };
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

static const VkAccessFlags DEVICE_ACCESS = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
static const VkPipelineStageFlags DEVICE_STAGES = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;

// Adds the slot's timed dispatches to x->profile_ms (after its fence signalled).
static void read_stamps(struct vlm_ctx * x, struct vk_slot * s) {
    const uint32_t n = s->n_stamps;
    s->n_stamps = 0;
    uint64_t t[VK_STAMPS];
    if (n == 0 || !x->profile_ms ||
        vkGetQueryPoolResults(x->vk->d->dev, s->stamps, 0, n, sizeof t, t, sizeof *t, VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
        return;
    const uint64_t mask = x->vk->d->stamp_mask;
    for (uint32_t i = 0; i + 1 < n; i += 2)
        x->profile_ms[s->stamp_op[i / 2]] += (double)((t[i + 1] - t[i]) & mask) * x->vk->d->stamp_ns * 1e-6;
}

static bool wait_slot(struct vlm_ctx * x, struct vk_slot * s) {
    struct vlm_vk * vk = x->vk;
    if (!s->submitted) return true;
    if (x->status == VLM_STATUS_DEVICE_LOST) return false;   // one timeout is enough
    VkResult r = vkWaitForFences(vk->d->dev, 1, &s->fence, VK_TRUE, vk->d->timeout_ns);
    if (r == VK_TIMEOUT) {
        vlm_ctx_fail(x, VLM_STATUS_DEVICE_LOST, "vk-backend.c: GPU work did not finish within %.0f s (VLM_VK_TIMEOUT_S); treating the device as lost",
                     vk->d->timeout_ns / 1e9);
        return false;
    }
    if (r != VK_SUCCESS) return vk_fail(x, r, "vkWaitForFences");
    s->submitted = false;
    read_stamps(x, s);
    if (vkResetFences(vk->d->dev, 1, &s->fence) != VK_SUCCESS) return vk_fail(x, VK_ERROR_DEVICE_LOST, "vkResetFences");
    // descriptor sets of this slot are free again
    for (uint32_t i = 0; i < s->n_pools; i++) vkResetDescriptorPool(vk->d->dev, s->pools[i], 0);
    s->cur_pool = 0;
    return true;
}

static void ranges_clear(struct vlm_vk * vk) { vk->reads.n = 0; vk->writes.n = 0; }

// Starts recording into the current slot if not already.
static bool begin_batch(struct vlm_ctx * x) {
    struct vlm_vk * vk = x->vk;
    if (vk->recording) return true;
    struct vk_slot * s = &vk->slots[vk->cur];
    if (!wait_slot(x, s)) return false;
    VK_TRY(x, vkResetCommandBuffer(s->cb, 0));
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VK_TRY(x, vkBeginCommandBuffer(s->cb, &bi));
    // Orders this batch after everything submitted before (and after host writes).
    full_barrier(s->cb, DEVICE_ACCESS, DEVICE_STAGES);
    if (x->profile_ms && vk->d->stamp_ns > 0 && !s->stamps) {   // VLM_PROFILE=1: made on first use
        VkQueryPoolCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = VK_STAMPS };
        if (vkCreateQueryPool(vk->d->dev, &qi, NULL, &s->stamps) != VK_SUCCESS) s->stamps = VK_NULL_HANDLE;
    }
    if (s->stamps) vkCmdResetQueryPool(s->cb, s->stamps, 0, VK_STAMPS);
    s->n_stamps = 0;
    ranges_clear(vk);
    vk->recording   = true;
    vk->batch_ops   = 0;
    vk->batch_flops = 0;
    return true;
}

// Ends and submits the current batch without waiting.
static bool submit_batch(struct vlm_ctx * x) {
    struct vlm_vk * vk = x->vk;
    if (!vk->recording) return true;
    struct vk_slot * s = &vk->slots[vk->cur];
    full_barrier(s->cb, VK_ACCESS_HOST_READ_BIT, VK_PIPELINE_STAGE_HOST_BIT);
    vk->recording = false;
    VK_TRY(x, vkEndCommandBuffer(s->cb));
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cb };
    struct vk_device * d = vk->d;
    pthread_mutex_lock(&d->lock);   // the queue is shared by the device's contexts
    bool injected = (d->fault == FAULT_LOST || d->fault == FAULT_HANG) && ++d->n_submits == d->fault_at;
    VkResult r = injected ? VK_SUCCESS : vkQueueSubmit(d->queue, 1, &si, s->fence);   // hang: never submitted, never signals
    pthread_mutex_unlock(&d->lock);
    if (injected && d->fault == FAULT_LOST) {
        vlm_ctx_fail(x, VLM_STATUS_DEVICE_LOST, "vk-backend.c: vkQueueSubmit failed: VK_ERROR_DEVICE_LOST (injected by VLM_VK_FAULT)");
        return false;
    }
    if (r != VK_SUCCESS) return vk_fail(x, r, "vkQueueSubmit");
    s->submitted = true;
    vk->cur = (vk->cur + 1) % VLM_VK_SLOTS;
    return true;
}

// Submits recorded work and waits for everything; the staging ring is free afterwards.
static bool wait_all(struct vlm_ctx * x) {
    struct vlm_vk * vk = x->vk;
    bool ok = submit_batch(x);
    for (uint32_t i = 0; i < VLM_VK_SLOTS; i++) ok = wait_slot(x, &vk->slots[i]) && ok;
    if (ok) vk->staging_used = 0;
    return ok;
}

static bool idle(const struct vlm_vk * vk) {
    if (vk->recording) return false;
    for (uint32_t i = 0; i < VLM_VK_SLOTS; i++)
        if (vk->slots[i].submitted) return false;
    return true;
}

enum vlm_status vlm_vk_sync(struct vlm_ctx * x) {
    if (x->vk && x->status == VLM_STATUS_OK) wait_all(x);
    return x->status;
}

// ---- hazard tracking -------------------------------------------------------------------

static bool range_overlaps(const struct vk_range_list * l, const struct vk_range * r) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].buf == r->buf && l->v[i].lo < r->hi && r->lo < l->v[i].hi) return true;
    return false;
}

static bool range_add(struct vk_range_list * l, const struct vk_range * r) {
    // merge with an adjacent/overlapping range of the same buffer (common: arena outputs)
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].buf == r->buf && l->v[i].lo <= r->hi && r->lo <= l->v[i].hi) {
            if (r->lo < l->v[i].lo) l->v[i].lo = r->lo;
            if (r->hi > l->v[i].hi) l->v[i].hi = r->hi;
            return true;
        }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct vk_range * v = realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *r;
    return true;
}

// Emits a barrier when this access set conflicts with unsynchronized earlier accesses,
// then records the accesses.
static bool track_access(struct vlm_ctx * x, const struct vk_range * rd, uint32_t n_rd,
                         const struct vk_range * wr, uint32_t n_wr) {
    struct vlm_vk * vk = x->vk;
    bool need = false;
    for (uint32_t i = 0; i < n_rd && !need; i++) need = range_overlaps(&vk->writes, &rd[i]);
    for (uint32_t i = 0; i < n_wr && !need; i++) need = range_overlaps(&vk->writes, &wr[i]) || range_overlaps(&vk->reads, &wr[i]);
    if (need) {
        full_barrier(vk->slots[vk->cur].cb, DEVICE_ACCESS, DEVICE_STAGES);
        ranges_clear(vk);
    }
    for (uint32_t i = 0; i < n_rd; i++)
        if (!range_add(&vk->reads, &rd[i])) goto oom;
    for (uint32_t i = 0; i < n_wr; i++)
        if (!range_add(&vk->writes, &wr[i])) goto oom;
    return true;
oom:
    vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-backend.c: out of host memory (hazard list)");
    return false;
}

// After recording an op: submit when the batch is big enough.
static void maybe_submit(struct vlm_ctx * x, double flops) {
    struct vlm_vk * vk = x->vk;
    vk->batch_ops++;
    vk->batch_flops += flops;
    if (vk->batch_ops >= vk->d->max_ops || vk->batch_flops >= vk->d->max_flops || vk->slots[vk->cur].n_stamps + 2 > VK_STAMPS)
        submit_batch(x);
}

// ---- staging ---------------------------------------------------------------------------

// Reserves n bytes (16-byte aligned) in the staging ring; waits for the device and
// recycles the ring when full; grows it up to STAGING_MAX. Returns the offset or
// SIZE_MAX on failure. *got may be less than n when n exceeds the ring (callers chunk).
static size_t staging_alloc(struct vlm_ctx * x, size_t n, size_t * got) {
    struct vlm_vk * vk = x->vk;
    size_t align = vk->d->caps.min_offset_align > 16 ? vk->d->caps.min_offset_align : 16;
    size_t off;
    if (!vlm_align_size(vk->staging_used, align, &off)) off = SIZE_MAX;
    if (off == SIZE_MAX || off + n > vk->staging.size) {
        if (!wait_all(x)) return SIZE_MAX;
        off = 0;
        if (n > vk->staging.size && vk->staging.size < STAGING_MAX) {
            size_t want = n < STAGING_MAX ? n : STAGING_MAX;
            if (want < vk->staging.size * 2) want = vk->staging.size * 2 < STAGING_MAX ? vk->staging.size * 2 : STAGING_MAX;
            struct vlm_vk_buffer nb;
            if (vk_buffer_create(vk->d, want, true, &nb) == VK_SUCCESS && nb.map) {
                vk_buffer_destroy(vk->d, &vk->staging);
                vk->staging = nb;
            } else if (nb.buf) {
                vk_buffer_destroy(vk->d, &nb);
            }
        }
    }
    *got = n < vk->staging.size - off ? n : vk->staging.size - off;
    vk->staging_used = off + *got;
    return off;
}

bool vlm_vk_bind_host(struct vlm_ctx * x, const void * data, size_t n, struct vlm_vk_bind * b) {
    struct vlm_vk * vk = x->vk;
    size_t got = 0;
    if (n > vk->d->caps.max_binding_range)
        return vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: %zu bytes of op parameters exceed the binding range", n), false;
    if (!begin_batch(x)) return false;
    size_t off = staging_alloc(x, n, &got);
    if (off == SIZE_MAX) return false;
    if (got < n) return vlm_ctx_fail(x, VLM_STATUS_DEVICE_OOM, "vk-backend.c: staging buffer too small for %zu bytes", n), false;
    // staging_alloc may have submitted the batch: make sure one is open again
    if (!begin_batch(x)) return false;
    memcpy((char *) vk->staging.map + off, data, n);
    b->buf   = vk->staging.buf;
    b->off   = off;
    b->range = (n + 3) & ~(size_t) 3;
    if (b->range == 0) b->range = 4;
    if (b->off + b->range > vk->staging.size) b->range = vk->staging.size - b->off;
    return true;
}

// ---- buffers ---------------------------------------------------------------------------

static struct vlm_vk_buffer * vkbuf(struct vlm_buffer * b) { return (struct vlm_vk_buffer *) b->vk; }

struct vlm_buffer * vlm_vk_buffer_new(struct vlm_ctx * x, size_t bytes) {
    struct vlm_vk * vk = x->vk;
    if (!vk) { vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: no Vulkan device in this context"); return NULL; }
    size_t size;
    if (!vlm_align_size(bytes ? bytes : 1, 16, &size)) {
        vlm_ctx_fail(x, VLM_STATUS_DEVICE_OOM, "vk-backend.c: buffer size %zu overflows", bytes);
        return NULL;
    }
    if (size > vk->d->caps.max_alloc) {
        vlm_ctx_fail(x, VLM_STATUS_DEVICE_OOM, "vk-backend.c: buffer of %zu MiB exceeds the device's maxMemoryAllocationSize (%" PRIu64 " MiB)",
                     size >> 20, vk->d->caps.max_alloc >> 20);
        return NULL;
    }
    struct vlm_buffer * b = calloc(1, sizeof *b);
    struct vlm_vk_buffer * vb = calloc(1, sizeof *vb);
    if (!b || !vb) {
        free(b); free(vb);
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-backend.c: out of host memory");
        return NULL;
    }
    pthread_mutex_lock(&vk->d->lock);
    bool injected = vk->d->fault == FAULT_OOM && ++vk->d->n_allocs == vk->d->fault_at;
    pthread_mutex_unlock(&vk->d->lock);
    VkResult r = injected ? VK_ERROR_OUT_OF_DEVICE_MEMORY : vk_buffer_create(vk->d, size, false, vb);
    if (r != VK_SUCCESS) {
        free(b); free(vb);
        vlm_ctx_fail(x, vk_status(r) == VLM_STATUS_DEVICE_LOST ? VLM_STATUS_DEVICE_OOM : vk_status(r),
                     "vk-backend.c: cannot allocate a %.1f MiB device buffer: %s%s", size / 1048576.0, vk_result_str(r),
                     injected ? " (injected by VLM_VK_FAULT)" : "");
        return NULL;
    }
    b->kind = VLM_BACKEND_KIND_VULKAN;
    b->size = bytes;
    b->host = NULL;
    b->vk   = vb;
    return b;
}

void vlm_vk_buffer_free(struct vlm_ctx * x, struct vlm_buffer * b) {
    if (!b) return;
    struct vlm_vk * vk = x ? x->vk : NULL;
    if (vk && b->vk) {
        // pending work may still use it (nothing more finishes on a lost device)
        if (!idle(vk) && x->status != VLM_STATUS_DEVICE_LOST) {
            submit_batch(x);
            for (uint32_t i = 0; i < VLM_VK_SLOTS; i++) {
                struct vk_slot * s = &vk->slots[i];
                if (s->submitted) vkWaitForFences(vk->d->dev, 1, &s->fence, VK_TRUE, vk->d->timeout_ns);
            }
        }
        vk_buffer_destroy(vk->d, vkbuf(b));
    }
    free(b->vk);
    free(b);
}

static bool check_range(struct vlm_ctx * x, struct vlm_buffer * b, size_t offset, size_t n, const char * what) {
    size_t end;
    if (!b || b->kind != VLM_BACKEND_KIND_VULKAN || !b->vk)
        return vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: %s: not a Vulkan buffer", what), false;
    if (!vlm_add_size(offset, n, &end) || end > vkbuf(b)->size)
        return vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: %s: range [%zu, +%zu) outside a %zu-byte buffer",
                            what, offset, n, (size_t) vkbuf(b)->size), false;
    return true;
}

void vlm_vk_upload(struct vlm_ctx * x, struct vlm_buffer * b, size_t offset, const void * data, size_t n) {
    if (x->status != VLM_STATUS_OK || n == 0 || !check_range(x, b, offset, n, "upload")) return;
    struct vlm_vk * vk = x->vk;
    struct vlm_vk_buffer * vb = vkbuf(b);
    if (vb->map && idle(vk)) {   // nothing in flight can touch it: write directly
        memcpy((char *) vb->map + offset, data, n);
        return;
    }
    // In stream order: host -> staging, then a recorded copy staging -> buffer.
    const char * src = data;
    while (n > 0 && x->status == VLM_STATUS_OK) {
        size_t got = 0;
        if (!begin_batch(x)) return;
        size_t soff = staging_alloc(x, n, &got);
        if (soff == SIZE_MAX || !begin_batch(x)) return;
        memcpy((char *) vk->staging.map + soff, src, got);
        struct vk_range rd = { vk->staging.buf, soff, soff + got }, wr = { vb->buf, offset, offset + got };
        if (!track_access(x, &rd, 1, &wr, 1)) return;
        VkBufferCopy c = { .srcOffset = soff, .dstOffset = offset, .size = got };
        vkCmdCopyBuffer(vk->slots[vk->cur].cb, vk->staging.buf, vb->buf, 1, &c);
        maybe_submit(x, 0);
        src += got; offset += got; n -= got;
    }
}

void vlm_vk_download(struct vlm_ctx * x, struct vlm_buffer * b, size_t offset, void * data, size_t n) {
    if (x->status != VLM_STATUS_OK || n == 0 || !check_range(x, b, offset, n, "download")) return;
    struct vlm_vk * vk = x->vk;
    struct vlm_vk_buffer * vb = vkbuf(b);
    if (!wait_all(x)) return;
    if (vb->map) {
        memcpy(data, (const char *) vb->map + offset, n);
        return;
    }
    char * dst = data;
    while (n > 0) {
        size_t got = 0;
        if (!begin_batch(x)) return;
        size_t soff = staging_alloc(x, n, &got);
        if (soff == SIZE_MAX || !begin_batch(x)) return;
        VkBufferCopy c = { .srcOffset = offset, .dstOffset = soff, .size = got };
        vkCmdCopyBuffer(vk->slots[vk->cur].cb, vb->buf, vk->staging.buf, 1, &c);
        if (!wait_all(x)) return;
        memcpy(dst, (const char *) vk->staging.map + soff, got);
        dst += got; offset += got; n -= got;
    }
}

// ---- binding tensors -------------------------------------------------------------------

bool vlm_vk_bind_tensor(struct vlm_ctx * x, const struct vlm_tensor * t, struct vlm_vk_bind * b, uint32_t * elem_off) {
    struct vlm_vk * vk = x->vk;
    char shape[96];
    if (!t->buf || t->buf->kind != VLM_BACKEND_KIND_VULKAN || !t->buf->vk) {
        vlm_tensor_shape_str(t, shape, sizeof shape);
        return vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: tensor %s is not in a Vulkan buffer", shape), false;
    }
    struct vlm_vk_buffer * vb = vkbuf(t->buf);
    // block dtypes: offsets in bytes (the shaders address their blocks byte by byte)
    size_t es = vlm_dtype_is_block(t->dtype) ? 1 : vlm_dtype_size(t->dtype);
    uint64_t last = 0;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->stride[d] < 0) {
            vlm_tensor_shape_str(t, shape, sizeof shape);
            return vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: negative strides are not supported (%s)", shape), false;
        }
        if (t->shape[d] > 0) last += (uint64_t) (t->shape[d] - 1) * (uint64_t) t->stride[d];
    }
    size_t extent;
    if (!vlm_tensor_extent(t, &extent)) {
        vlm_tensor_shape_str(t, shape, sizeof shape);
        return vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: tensor %s is not a valid view", shape), false;
    }
    uint64_t end = (uint64_t) t->offset + extent;
    if (t->offset % es != 0 || end > vb->size) {
        vlm_tensor_shape_str(t, shape, sizeof shape);
        return vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: tensor %s at byte %zu is misaligned or outside its buffer",
                            shape, t->offset), false;
    }
    uint64_t align = vk->d->caps.min_offset_align;
    uint64_t lo = (uint64_t) t->offset / align * align;
    uint64_t hi = (end + 3) & ~(uint64_t) 3;
    if (hi > vb->size) hi = vb->size;
    if (hi - lo > vk->d->caps.max_binding_range) {
        vlm_tensor_shape_str(t, shape, sizeof shape);
        return vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: tensor %s spans %" PRIu64 " MiB, more than the device's maxStorageBufferRange (%" PRIu64 " MiB)",
                            shape, (hi - lo) >> 20, vk->d->caps.max_binding_range >> 20), false;
    }
    if ((t->offset - lo) / es > UINT32_MAX || last > UINT32_MAX) {
        vlm_tensor_shape_str(t, shape, sizeof shape);
        return vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: tensor %s has more than 2^32 elements", shape), false;
    }
    b->buf   = vb->buf;
    b->off   = lo;
    b->range = hi - lo;
    *elem_off = (uint32_t) ((t->offset - lo) / es);
    return true;
}

// ---- pipelines -------------------------------------------------------------------------

static VkShaderModule get_module(struct vlm_ctx * x, const char * name) {
    struct vlm_vk * vk = x->vk;
    for (size_t i = 0; i < vk->d->n_modules; i++)
        if (strcmp(vk->d->modules[i].name, name) == 0) return vk->d->modules[i].mod;
    const struct vlm_shader_blob * blob = vlm_shader_find(name);
    if (!blob) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: shader '%s' is not embedded in this build", name);
        return VK_NULL_HANDLE;
    }
    if (vk->d->n_modules == vk->d->cap_modules) {
        size_t cap = vk->d->cap_modules ? vk->d->cap_modules * 2 : 32;
        struct vk_module * m = realloc(vk->d->modules, cap * sizeof *m);
        if (!m) { vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-backend.c: out of host memory"); return VK_NULL_HANDLE; }
        vk->d->modules = m;
        vk->d->cap_modules = cap;
    }
    VkShaderModuleCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = blob->size, .pCode = blob->code };
    VkShaderModule mod;
    VkResult r = vkCreateShaderModule(vk->d->dev, &ci, NULL, &mod);
    if (r != VK_SUCCESS) { vk_fail(x, r, "vkCreateShaderModule"); return VK_NULL_HANDLE; }
    vk->d->modules[vk->d->n_modules++] = (struct vk_module) { blob->name, mod };
    return mod;
}

// The pipeline of (shader, spec), created on first use. Called with the device lock held.
static VkPipeline find_or_create_pipeline(struct vlm_ctx * x, const char * shader, const uint32_t * spec, uint32_t n_spec) {
    struct vlm_vk * vk = x->vk;
    for (size_t i = 0; i < vk->d->n_pipes; i++) {
        struct vk_pipeline * p = &vk->d->pipes[i];
        if (p->n_spec == n_spec && strcmp(p->shader, shader) == 0 &&
            (n_spec == 0 || memcmp(p->spec, spec, n_spec * sizeof *spec) == 0))   // spec may be NULL
            return p->pipe;
    }
    VkShaderModule mod = get_module(x, shader);
    if (!mod) return VK_NULL_HANDLE;
    if (vk->d->n_pipes == vk->d->cap_pipes) {
        size_t cap = vk->d->cap_pipes ? vk->d->cap_pipes * 2 : 64;
        struct vk_pipeline * p = realloc(vk->d->pipes, cap * sizeof *p);
        if (!p) { vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-backend.c: out of host memory"); return VK_NULL_HANDLE; }
        vk->d->pipes = p;
        vk->d->cap_pipes = cap;
    }
    VkSpecializationMapEntry entries[VLM_VK_MAX_SPEC];
    for (uint32_t i = 0; i < n_spec; i++) entries[i] = (VkSpecializationMapEntry) { i, i * 4, 4 };
    VkSpecializationInfo si = { .mapEntryCount = n_spec, .pMapEntries = entries, .dataSize = n_spec * 4, .pData = spec };
    VkComputePipelineCreateInfo ci = {
        .sType  = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage  = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                    .module = mod, .pName = "main", .pSpecializationInfo = n_spec ? &si : NULL },
        .layout = vk->d->layout,
    };
    VkPipeline pipe;
    VkResult r = vkCreateComputePipelines(vk->d->dev, vk->d->cache, 1, &ci, NULL, &pipe);
    if (r != VK_SUCCESS) { vk_fail(x, r, "vkCreateComputePipelines"); return VK_NULL_HANDLE; }
    struct vk_pipeline * p = &vk->d->pipes[vk->d->n_pipes++];
    p->shader = shader;
    for (size_t i = 0; i < vk->d->n_modules; i++)   // keep a pointer that outlives the caller's string
        if (strcmp(vk->d->modules[i].name, shader) == 0) p->shader = vk->d->modules[i].name;
    memset(p->spec, 0, sizeof p->spec);
    if (n_spec) memcpy(p->spec, spec, n_spec * sizeof *spec);   // spec may be NULL when n_spec is 0
    p->n_spec = n_spec;
    p->pipe = pipe;
    return pipe;
}

static VkPipeline get_pipeline(struct vlm_ctx * x, const char * shader, const uint32_t * spec, uint32_t n_spec) {
    pthread_mutex_lock(&x->vk->d->lock);
    VkPipeline p = find_or_create_pipeline(x, shader, spec, n_spec);
    pthread_mutex_unlock(&x->vk->d->lock);
    return p;
}

static VkDescriptorSet alloc_set(struct vlm_ctx * x) {
    struct vlm_vk * vk = x->vk;
    struct vk_slot * s = &vk->slots[vk->cur];
    for (;;) {
        if (s->cur_pool < s->n_pools) {
            VkDescriptorSetAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                               .descriptorPool = s->pools[s->cur_pool], .descriptorSetCount = 1, .pSetLayouts = &vk->d->dsl };
            VkDescriptorSet set;
            VkResult r = vkAllocateDescriptorSets(vk->d->dev, &ai, &set);
            if (r == VK_SUCCESS) return set;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) { vk_fail(x, r, "vkAllocateDescriptorSets"); return VK_NULL_HANDLE; }
            s->cur_pool++;
            continue;
        }
        // a new pool, 1.5x the previous one
        uint32_t sets = s->pool_sets ? s->pool_sets + s->pool_sets / 2 : 128;
        VkDescriptorPoolSize ps = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * VLM_VK_MAX_BINDINGS };
        VkDescriptorPoolCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = sets, .poolSizeCount = 1, .pPoolSizes = &ps };
        VkDescriptorPool pool;
        VkResult r = vkCreateDescriptorPool(vk->d->dev, &ci, NULL, &pool);
        if (r != VK_SUCCESS) { vk_fail(x, r, "vkCreateDescriptorPool"); return VK_NULL_HANDLE; }
        VkDescriptorPool * np = realloc(s->pools, (s->n_pools + 1) * sizeof *np);
        if (!np) {
            vkDestroyDescriptorPool(vk->d->dev, pool, NULL);
            vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "vk-backend.c: out of host memory");
            return VK_NULL_HANDLE;
        }
        s->pools = np;
        s->pools[s->n_pools++] = pool;
        s->cur_pool = s->n_pools - 1;
        s->pool_sets = sets;
    }
}

void vlm_vk_grid_1d(uint64_t groups, uint32_t * gx, uint32_t * gy) {
    if (groups == 0) groups = 1;
    *gx = groups < 65535 ? (uint32_t) groups : 65535;
    *gy = (uint32_t) ((groups + *gx - 1) / *gx);
}

void vlm_vk_dispatch(struct vlm_ctx * x, const char * shader, const uint32_t * spec, uint32_t n_spec,
                     const struct vlm_vk_bind * binds, uint32_t n_binds, uint32_t write_mask,
                     const void * push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz, double flops) {
    struct vlm_vk * vk = x->vk;
    if (x->status != VLM_STATUS_OK) return;
    if (n_binds > VLM_VK_MAX_BINDINGS || n_spec > VLM_VK_MAX_SPEC || push_size > VLM_VK_PUSH_BYTES) {
        vlm_ctx_fail(x, VLM_STATUS_INVALID_ARG, "vk-backend.c: %s: too many bindings/spec constants/push bytes", shader);
        return;
    }
    if (gx == 0 || gy == 0 || gz == 0) return;   // empty op
    if (gx > vk->d->caps.max_wg_count[0] || gy > vk->d->caps.max_wg_count[1] || gz > vk->d->caps.max_wg_count[2]) {
        vlm_ctx_fail(x, VLM_STATUS_UNSUPPORTED, "vk-backend.c: %s: grid %ux%ux%u exceeds the device limits", shader, gx, gy, gz);
        return;
    }
    VkPipeline pipe = get_pipeline(x, shader, spec, n_spec);
    if (!pipe || !begin_batch(x)) return;
    VkCommandBuffer cb = vk->slots[vk->cur].cb;

    struct vk_range rd[VLM_VK_MAX_BINDINGS], wr[VLM_VK_MAX_BINDINGS];
    uint32_t n_rd = 0, n_wr = 0;
    VkDescriptorBufferInfo infos[VLM_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VLM_VK_MAX_BINDINGS; i++) {
        if (i < n_binds && binds[i].buf) {
            infos[i] = (VkDescriptorBufferInfo) { binds[i].buf, binds[i].off, binds[i].range };
            struct vk_range r = { binds[i].buf, binds[i].off, binds[i].off + binds[i].range };
            if (write_mask & (1u << i)) wr[n_wr++] = r;
            else rd[n_rd++] = r;
        } else {
            infos[i] = (VkDescriptorBufferInfo) { vk->d->dummy.buf, 0, DUMMY_BYTES };
        }
    }
    if (!track_access(x, rd, n_rd, wr, n_wr)) return;

    VkWriteDescriptorSet w = {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstBinding = 0, .descriptorCount = VLM_VK_MAX_BINDINGS,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = infos,
    };
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    if (vk->d->push_desc) {
        vk->d->push_desc(cb, VK_PIPELINE_BIND_POINT_COMPUTE, vk->d->layout, 0, 1, &w);
    } else {
        VkDescriptorSet set = alloc_set(x);
        if (!set) return;
        w.dstSet = set;
        vkUpdateDescriptorSets(vk->d->dev, 1, &w, 0, NULL);
        vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, vk->d->layout, 0, 1, &set, 0, NULL);
    }
    if (push_size) vkCmdPushConstants(cb, vk->d->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    struct vk_slot * s = &vk->slots[vk->cur];
    const bool timed = s->stamps && x->profile_ms;   // from when the compute work before it is done to when it is
    if (timed) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, s->stamps, s->n_stamps);
    vkCmdDispatch(cb, gx, gy, gz);
    if (timed) {
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, s->stamps, s->n_stamps + 1);
        s->stamp_op[s->n_stamps / 2] = vk->cur_op;
        s->n_stamps += 2;
    }
    maybe_submit(x, flops);
}

// ---- init / free -----------------------------------------------------------------------

const struct vlm_vk_caps * vlm_vk_caps(const struct vlm_vk * vk) { return &vk->d->caps; }

const char * vlm_vk_device_name(const struct vlm_vk * vk) { return vk ? vk->d->caps.name : "none"; }

static void load_pipeline_cache(struct vk_device * d) {
    void * data = NULL;
    size_t n = 0;
    const char * path = getenv("VLM_VK_PIPELINE_CACHE");
    if (path && *path) {
        d->cache_path = strdup(path);
        data = vlm_read_file(path, 64u << 20, &n);   // absent or unreadable: an empty cache
    }
    VkPipelineCacheCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = n, .pInitialData = n ? data : NULL };
    if (vkCreatePipelineCache(d->dev, &ci, NULL, &d->cache) != VK_SUCCESS) {
        ci.initialDataSize = 0;   // a stale or foreign cache file: start empty
        ci.pInitialData = NULL;
        if (vkCreatePipelineCache(d->dev, &ci, NULL, &d->cache) != VK_SUCCESS) d->cache = VK_NULL_HANDLE;
    }
    free(data);
}

static void save_pipeline_cache(struct vk_device * d) {
    if (!d->cache || !d->cache_path) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(d->dev, d->cache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void * data = malloc(n);
    if (!data) return;
    if (vkGetPipelineCacheData(d->dev, d->cache, &n, data) == VK_SUCCESS) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", d->cache_path);
        FILE * f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, n, f) == n;
            ok = fclose(f) == 0 && ok;
            if (ok) rename(tmp, d->cache_path);
            else remove(tmp);
        }
    }
    free(data);
}

// ---- kernel variants ---------------------------------------------------------------------

static const struct { const char * name, * env; } variants[VLM_VK_VARIANT_COUNT] = {
    [VLM_VK_VARIANT_UNARY_VEC4] = { "unary.vec4", "VLM_VK_NO_VEC4" },
    [VLM_VK_VARIANT_MATVEC]     = { "linear.matvec", "VLM_VK_NO_MATVEC" },
};

const char * vlm_vk_variant_name(enum vlm_vk_variant v) {
    return (unsigned) v < VLM_VK_VARIANT_COUNT ? variants[v].name : "?";
}

int vlm_vk_variant_find(const char * name) {
    for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++)
        if (strcmp(variants[v].name, name) == 0) return v;
    return -1;
}

void vlm_vk_variant_enable(struct vlm_vk * vk, enum vlm_vk_variant v, bool on) {
    if (on) vk->d->variants_off &= ~(1u << v);
    else vk->d->variants_off |= 1u << v;
}

bool vlm_vk_variant_enabled(const struct vlm_vk * vk, enum vlm_vk_variant v) { return !(vk->d->variants_off & (1u << v)); }

void vlm_vk_op_begin(struct vlm_ctx * x, enum vlm_op_type type) { x->vk->cur_op = (uint8_t)type; }

uint32_t vlm_vk_variants_used(struct vlm_vk * vk, bool reset) {
    uint32_t u = vk->variants_used;
    if (reset) vk->variants_used = 0;
    return u;
}

bool vlm_vk_take_variant(struct vlm_ctx * x, enum vlm_vk_variant v) {
    if (x->vk->d->variants_off & (1u << v)) return false;
    x->vk->variants_used |= 1u << v;
    return true;
}

void vlm_vk_variants_set(struct vlm_vk * vk, uint32_t used) { vk->variants_used = used; }

const char * vlm_vk_inject(const struct vlm_vk * vk) { return vk->d->inject; }

// VLM_VK_FAULT=<kind>:<n> (see the top of this file); empty or unset: no fault.
static bool parse_fault(const char * e, struct vk_device * d) {
    d->fault = FAULT_NONE;
    if (!e || !*e) return true;
    static const struct { const char * name; int kind; } kinds[] = {
        { "oom:", FAULT_OOM }, { "lost:", FAULT_LOST }, { "hang:", FAULT_HANG } };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        size_t n = strlen(kinds[i].name);
        if (strncmp(e, kinds[i].name, n) != 0) continue;
        char * end = NULL;
        unsigned long long at = strtoull(e + n, &end, 10);
        if (!end || *end || at < 1 || e[n] == '-') return false;
        d->fault = kinds[i].kind;
        d->fault_at = at;
        return true;
    }
    return false;
}

static void device_release(struct vk_device * d);

// Creates the device (instance, logical device, queue, pipeline layout and cache, the dummy
// binding). NULL with the reason in msg on failure.
static struct vk_device * device_new(int32_t device_index, char * msg, size_t msg_size) {
    struct vk_device * d = calloc(1, sizeof *d);
    VkPhysicalDevice * devs = NULL;
    if (!d) { snprintf(msg, msg_size, "out of host memory"); return NULL; }
    pthread_mutex_init(&d->lock, NULL);
    d->refs = 1;
    VkResult r = create_instance(&d->instance, env_flag("VLM_VK_VALIDATE"));
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "no Vulkan driver (vkCreateInstance: %s)", vk_result_str(r)); d->instance = VK_NULL_HANDLE; goto fail; }
    uint32_t n = list_devices(d->instance, &devs);
    if (n == 0) { snprintf(msg, msg_size, "no Vulkan devices"); goto fail; }
    int idx = device_index >= 0 ? device_index : env_device_index();
    if (idx < 0) {
        idx = pick_auto(devs, n);
        if (idx < 0) { snprintf(msg, msg_size, "no usable Vulkan device (see `vlm devices`)"); goto fail; }
    } else if ((uint32_t) idx >= n) {
        snprintf(msg, msg_size, "Vulkan device %d requested but only %u present", idx, n);
        goto fail;
    }
    d->phys = devs[idx];
    probe_caps(d->phys, &d->caps);
    const char * why = device_unusable(d->phys, &d->caps);
    if (why) { snprintf(msg, msg_size, "Vulkan device %d (%s): %s", idx, d->caps.name, why); goto fail; }
    uint32_t stamp_bits = 0;
    find_compute_queue(d->phys, &d->qfam, &stamp_bits);
    VkPhysicalDeviceProperties pp;
    vkGetPhysicalDeviceProperties(d->phys, &pp);
    if (stamp_bits > 0 && pp.limits.timestampPeriod > 0) {
        d->stamp_ns = pp.limits.timestampPeriod;
        d->stamp_mask = stamp_bits >= 64 ? ~0ull : (1ull << stamp_bits) - 1;
        d->caps.timestamps = true;
    }
    const char * cap_env = getenv("VLM_VK_MAX_BINDING_BYTES");   // tests: a smaller binding range
    const uint64_t cap = cap_env ? strtoull(cap_env, NULL, 10) : 0;
    if (cap >= 4096 && cap < d->caps.max_binding_range) d->caps.max_binding_range = cap;
    if (env_flag("VLM_VK_DISABLE_PUSH_DESCRIPTOR")) d->caps.push_descriptor = false;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = d->qfam, .queueCount = 1, .pQueuePriorities = &prio };
    const char * exts[1];
    uint32_t n_exts = 0;
    if (d->caps.push_descriptor) exts[n_exts++] = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
    VkDeviceCreateInfo di = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi,
                              .enabledExtensionCount = n_exts, .ppEnabledExtensionNames = exts };
    r = vkCreateDevice(d->phys, &di, NULL, &d->dev);
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkCreateDevice: %s", vk_result_str(r)); d->dev = VK_NULL_HANDLE; goto fail; }
    vkGetDeviceQueue(d->dev, d->qfam, 0, &d->queue);
    if (d->caps.push_descriptor) {
        d->push_desc = (PFN_vkCmdPushDescriptorSetKHR) vkGetDeviceProcAddr(d->dev, "vkCmdPushDescriptorSetKHR");
        if (!d->push_desc) d->caps.push_descriptor = false;
    }

    VkDescriptorSetLayoutBinding lb[VLM_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VLM_VK_MAX_BINDINGS; i++)
        lb[i] = (VkDescriptorSetLayoutBinding) { i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL };
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = VLM_VK_MAX_BINDINGS, .pBindings = lb,
        .flags = d->caps.push_descriptor ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0,
    };
    r = vkCreateDescriptorSetLayout(d->dev, &dci, NULL, &d->dsl);
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkCreateDescriptorSetLayout: %s", vk_result_str(r)); goto fail; }
    VkPushConstantRange pr = { VK_SHADER_STAGE_COMPUTE_BIT, 0, VLM_VK_PUSH_BYTES };
    VkPipelineLayoutCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &d->dsl,
                                       .pushConstantRangeCount = 1, .pPushConstantRanges = &pr };
    r = vkCreatePipelineLayout(d->dev, &pci, NULL, &d->layout);
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkCreatePipelineLayout: %s", vk_result_str(r)); goto fail; }
    load_pipeline_cache(d);

    r = vk_buffer_create(d, DUMMY_BYTES, false, &d->dummy);
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "cannot create a buffer: %s", vk_result_str(r)); goto fail; }

    d->max_ops = 64;
    const char * e = getenv("VLM_VK_MAX_OPS_PER_SUBMIT");
    if (e && atoi(e) > 0) d->max_ops = (uint32_t) atoi(e);
    bool cpu_dev = d->caps.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    d->max_flops = cpu_dev ? 20e9 : 200e9;
    double timeout_s = cpu_dev ? 600 : 60;
    e = getenv("VLM_VK_TIMEOUT_S");
    if (e && atof(e) > 0) timeout_s = atof(e);
    d->timeout_ns = (uint64_t) (timeout_s * 1e9);
    if (!parse_fault(getenv("VLM_VK_FAULT"), d)) {
        snprintf(msg, msg_size, "VLM_VK_FAULT=%s: expected oom:<n>, lost:<n> or hang:<n> (n >= 1)", getenv("VLM_VK_FAULT"));
        goto fail;
    }
    for (int v = 0; v < VLM_VK_VARIANT_COUNT; v++)
        if (env_flag(variants[v].env)) d->variants_off |= 1u << v;
    e = getenv("VLM_SELFTEST_INJECT");
    snprintf(d->inject, sizeof d->inject, "%s", e ? e : "");
    free(devs);
    return d;
fail:
    free(devs);
    device_release(d);
    return NULL;
}

// Drops one reference; the last one waits for the device and destroys it.
static void device_release(struct vk_device * d) {
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    bool last = --d->refs == 0;
    pthread_mutex_unlock(&d->lock);
    if (!last) return;
    if (d->dev) {
        vkDeviceWaitIdle(d->dev);
        save_pipeline_cache(d);
        for (size_t i = 0; i < d->n_pipes; i++) vkDestroyPipeline(d->dev, d->pipes[i].pipe, NULL);
        for (size_t i = 0; i < d->n_modules; i++) vkDestroyShaderModule(d->dev, d->modules[i].mod, NULL);
        vk_buffer_destroy(d, &d->dummy);
        if (d->cache) vkDestroyPipelineCache(d->dev, d->cache, NULL);
        if (d->layout) vkDestroyPipelineLayout(d->dev, d->layout, NULL);
        if (d->dsl) vkDestroyDescriptorSetLayout(d->dev, d->dsl, NULL);
        vkDestroyDevice(d->dev, NULL);
    }
    if (d->instance) vkDestroyInstance(d->instance, NULL);
    free(d->pipes);
    free(d->modules);
    free(d->cache_path);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

// A context's recording state on d (taking a reference to d): command buffers, fences, the
// staging ring. NULL with the reason in msg on failure (the reference is dropped).
static struct vlm_vk * recorder_new(struct vk_device * d, char * msg, size_t msg_size) {
    struct vlm_vk * vk = calloc(1, sizeof *vk);
    if (!vk) {
        snprintf(msg, msg_size, "out of host memory");
        device_release(d);
        return NULL;
    }
    vk->d = d;
    VkCommandPoolCreateInfo cpi = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = vk->d->qfam };
    VkResult r = vkCreateCommandPool(vk->d->dev, &cpi, NULL, &vk->cmd_pool);
    if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkCreateCommandPool: %s", vk_result_str(r)); goto fail; }
    for (uint32_t i = 0; i < VLM_VK_SLOTS; i++) {
        VkCommandBufferAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = vk->cmd_pool,
                                           .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1 };
        r = vkAllocateCommandBuffers(vk->d->dev, &ai, &vk->slots[i].cb);
        if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkAllocateCommandBuffers: %s", vk_result_str(r)); goto fail; }
        VkFenceCreateInfo fi = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
        r = vkCreateFence(vk->d->dev, &fi, NULL, &vk->slots[i].fence);
        if (r != VK_SUCCESS) { snprintf(msg, msg_size, "vkCreateFence: %s", vk_result_str(r)); goto fail; }
    }
    r = vk_buffer_create(vk->d, STAGING_INITIAL, true, &vk->staging);
    if (r != VK_SUCCESS || !vk->staging.map) { snprintf(msg, msg_size, "cannot create the staging buffer: %s", vk_result_str(r)); goto fail; }
    return vk;
fail:
    vlm_vk_free(vk);
    return NULL;
}

struct vlm_vk * vlm_vk_init(int32_t device_index, char * err, size_t err_size) {
    char msg[256] = "";
    struct vk_device * d = device_new(device_index, msg, sizeof msg);
    struct vlm_vk * vk = d ? recorder_new(d, msg, sizeof msg) : NULL;
    if (!vk && err && err_size) snprintf(err, err_size, "vk-backend.c: %s", msg);
    return vk;
}

struct vlm_vk * vlm_vk_share(struct vlm_vk * other, char * err, size_t err_size) {
    char msg[256] = "";
    pthread_mutex_lock(&other->d->lock);
    other->d->refs++;
    pthread_mutex_unlock(&other->d->lock);
    struct vlm_vk * vk = recorder_new(other->d, msg, sizeof msg);
    if (!vk && err && err_size) snprintf(err, err_size, "vk-backend.c: %s", msg);
    return vk;
}

void vlm_vk_free(struct vlm_vk * vk) {
    if (!vk) return;
    struct vk_device * d = vk->d;
    if (!idle(vk)) {   // its command buffers may be in flight (a hang's never signal: no fence waits)
        pthread_mutex_lock(&d->lock);
        vkQueueWaitIdle(d->queue);
        pthread_mutex_unlock(&d->lock);
    }
    for (uint32_t i = 0; i < VLM_VK_SLOTS; i++) {
        struct vk_slot * s = &vk->slots[i];
        for (uint32_t j = 0; j < s->n_pools; j++) vkDestroyDescriptorPool(d->dev, s->pools[j], NULL);
        free(s->pools);
        if (s->fence) vkDestroyFence(d->dev, s->fence, NULL);
        if (s->stamps) vkDestroyQueryPool(d->dev, s->stamps, NULL);
    }
    if (vk->cmd_pool) vkDestroyCommandPool(d->dev, vk->cmd_pool, NULL);
    vk_buffer_destroy(d, &vk->staging);
    free(vk->reads.v);
    free(vk->writes.v);
    free(vk);
    device_release(d);
}
