// query-check's and secondary-check's vertex shader: a 2D position already in clip space and a colour.
// SPIR-V (checked in beside it): see README.md in this folder for the one regeneration command.
#version 450
layout(location = 0) in vec2 position;
layout(location = 1) in vec3 color;
layout(location = 0) out vec3 out_color;

void main() {
    gl_Position = vec4(position, 0.5, 1.0);
    out_color = color;
}
