// secondary-check's compute shader, run by vkCmdDispatchIndirect: every invocation marks its slot (so the host
// can count how many workgroups really ran), and invocation 0 writes the draw commands that the render pass then
// consumes with vkCmdDrawIndirect / vkCmdDrawIndexedIndirect (the host hands their fields in as push constants).
// SPIR-V (checked in beside it): see README.md in this folder for the one regeneration command.
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Marks { uint marks[]; };
layout(std430, set = 0, binding = 1) buffer Commands { uint words[]; };
layout(push_constant) uniform Push { uint words[9]; } push;

void main() {
    uint index = gl_GlobalInvocationID.x;
    if (index < marks.length()) {
        marks[index] = index + 1u;
    }
    if (index == 0u) {
        for (uint word = 0u; word < 9u; word++) {
            words[word] = push.words[word];
        }
    }
}
