// render-check's vertex shader: places each vertex with the scene transform (a rotation, so that edges are not
// axis-aligned and 4x MSAA has something to resolve) and passes the texture coordinate and colour on.
// SPIR-V (checked in beside it): see README.md in this folder for the one regeneration command.
#version 450
layout(location = 0) in vec3 position;
layout(location = 1) in vec2 uv;
layout(location = 2) in vec3 color;
layout(set = 0, binding = 0) uniform Scene {
    mat4 transform;
    vec4 tint;
} scene;
layout(location = 0) out vec2 out_uv;
layout(location = 1) out vec3 out_color;

void main() {
    gl_Position = scene.transform * vec4(position, 1.0);
    out_uv = uv;
    out_color = color * scene.tint.rgb;
}
