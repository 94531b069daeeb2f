// render-check's fragment shader: the sampled texture times the vertex colour, fully opaque (the clear colour
// has alpha 0, so a resolved edge pixel has a fractional alpha).
// SPIR-V (checked in beside it): see README.md in this folder for the one regeneration command.
#version 450
layout(set = 0, binding = 1) uniform sampler2D pattern;
layout(location = 0) in vec2 uv;
layout(location = 1) in vec3 color;
layout(location = 0) out vec4 frag_color;

void main() {
    frag_color = vec4(texture(pattern, uv).rgb * color, 1.0);
}
