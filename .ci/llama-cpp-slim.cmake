# A shorter llama-cpp-python build for dreamflow (issue 24): README's install commands and .ci/run
# pass it through CMAKE_ARGS as -DCMAKE_PROJECT_llama.cpp_INCLUDE=<this file's absolute path>.
#
# CMake includes this file right after llama.cpp's own project() call, in its directory scope.
# llama-cpp-python forces the cache entry LLAMA_BUILD_COMMON ON; a normal variable of the same name
# shadows it in this scope (option() honours normal variables, policy CMP0077), so llama.cpp's
# "common" helper library and the HTTP library only it uses are not compiled: about a third of the
# build's CPU time. llama-cpp-python's Python code never loads them (it loads libllama and ggml);
# -DLLAVA_BUILD=OFF, beside it in CMAKE_ARGS, drops the multimodal library (libmtmd) the same way.
#
# Tied to llama-cpp-python 0.3.36's layout (a sub-project named llama.cpp, this switch): the pin in
# pyproject.toml and this file move together. If a later version needs "common", its build fails
# at link time, loudly, and CI builds it on every run.
set(LLAMA_BUILD_COMMON OFF)
