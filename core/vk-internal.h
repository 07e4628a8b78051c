// vk-internal.h — private declarations shared by vk-backend.c (device, memory, commands,
// pipelines) and vk-ops.c (one recording function per op).
#ifndef VLM_VK_INTERNAL_H
#define VLM_VK_INTERNAL_H

#include <vulkan/vulkan.h>

#include "core.h"

#define VLM_VK_MAX_BINDINGS  8    // one descriptor-set layout with 8 storage buffers
#define VLM_VK_MAX_SPEC      12   // specialization constants per pipeline (ids 0..11)
#define VLM_VK_PUSH_BYTES    128  // push-constant range of the shared pipeline layout
#define VLM_VK_SLOTS         2    // command buffers in flight

// Device capabilities, probed once at init (printed by vlm_vk_print_devices).
struct vlm_vk_caps {
    char                 name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    uint32_t             api_version;
    uint32_t             vendor_id;
    uint32_t             driver_version;      // VkPhysicalDeviceProperties::driverVersion (self-test cache key)
    uint64_t             max_binding_range;   // maxStorageBufferRange
    uint64_t             max_alloc;           // maxMemoryAllocationSize
    uint64_t             min_offset_align;    // minStorageBufferOffsetAlignment
    uint32_t             max_shared;          // maxComputeSharedMemorySize
    uint32_t             max_wg_invocations;  // maxComputeWorkGroupInvocations
    uint32_t             max_wg_count[3];
    uint32_t             max_push_constants;
    uint32_t             subgroup_size;
    bool                 subgroup_arith;      // subgroup arithmetic in compute (probed, unused)
    bool                 fp16_storage;        // storageBuffer16BitAccess (probed, unused: fp32 only)
    bool                 fp16_arith;          // shaderFloat16 (probed, unused)
    bool                 push_descriptor;     // VK_KHR_push_descriptor present and enabled
    bool                 uma;                 // device-local memory is also host-visible
    bool                 timestamps;          // the compute queue has timestamps (VLM_PROFILE=1 times dispatches)
};

// Backend-private part of a struct vlm_buffer.
struct vlm_vk_buffer {
    VkBuffer       buf;
    VkDeviceMemory mem;
    VkDeviceSize   size;
    void *         map;    // persistent mapping when host-visible and coherent, else NULL
};

// One storage-buffer binding: a byte range of a VkBuffer. buf == VK_NULL_HANDLE = unused.
struct vlm_vk_bind {
    VkBuffer     buf;
    VkDeviceSize off, range;
};

// ---- vk-backend.c: helpers used by vk-ops.c ---------------------------------------------
const struct vlm_vk_caps * vlm_vk_caps(const struct vlm_vk * vk);
// Binds the byte range a tensor view spans (offset aligned down to the device's storage-
// buffer alignment). *elem_off receives the residual offset in elements. Fails into x.
bool vlm_vk_bind_tensor(struct vlm_ctx * x, const struct vlm_tensor * t, struct vlm_vk_bind * b, uint32_t * elem_off);
// Copies n bytes of host data into the staging ring and binds them (read-only input for
// the next dispatch). At most one such binding per dispatch: the ring may be recycled
// (after waiting for the device) by the next call. Fails into x.
bool vlm_vk_bind_host(struct vlm_ctx * x, const void * data, size_t n, struct vlm_vk_bind * b);
// Records one dispatch: pipeline (shader, spec constants) created on first use; binds[i]
// goes to binding i (absent ones get a dummy buffer); write_mask has bit i set when
// binding i is written. A barrier is recorded first when a range overlaps an earlier
// unsynchronized write (or a write overlaps an earlier read). flops: for batch sizing.
void vlm_vk_dispatch(struct vlm_ctx * x, const char * shader, const uint32_t * spec, uint32_t n_spec,
                     const struct vlm_vk_bind * binds, uint32_t n_binds, uint32_t write_mask,
                     const void * push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz, double flops);
// The op type the next dispatches are recorded for (their VLM_PROFILE=1 timestamps).
void vlm_vk_op_begin(struct vlm_ctx * x, enum vlm_op_type type);
// Whether vk-ops.c may use kernel variant v for the dispatch it is about to record (enabled on
// this device); when it is, marks it as used by the current op (vlm_vk_variants_used).
bool vlm_vk_take_variant(struct vlm_ctx * x, enum vlm_vk_variant v);
// Sets the used-variants mask (vk-ops.c restores it around an injected wrong result).
void vlm_vk_variants_set(struct vlm_vk * vk, uint32_t used);
// VLM_SELFTEST_INJECT (vk-backend.c's header): the kernel whose outputs are made wrong, "" for none.
const char * vlm_vk_inject(const struct vlm_vk * vk);
// Splits a number of workgroups over x and y (each <= 65535). The shader recovers the
// flat index as gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x.
void vlm_vk_grid_1d(uint64_t groups, uint32_t * gx, uint32_t * gy);

#endif // VLM_VK_INTERNAL_H
