// The fragment shader for flat.vert: the interpolated colour, opaque.
// SPIR-V (checked in beside it): see README.md in this folder for the one regeneration command.
#version 450
layout(location = 0) in vec3 color;
layout(location = 0) out vec4 frag_color;

void main() {
    frag_color = vec4(color, 1.0);
}
