# One build target per layer (util <- cas <- store <- sync, env <- cli).
#
# A layer's sources include headers as "<layer>/name.h". Each layer target
# sees two generated include trees:
#   layers/<layer>/private/<layer> -> the layer's whole source directory,
#                                     on its own PRIVATE include path;
#   layers/<layer>/public/<layer>/ -> links to its interface headers only
#                                     (every header but *_impl.h), on the
#                                     PUBLIC path, so the layers above see it.
# A layer links only the layers below it, so an upward or sideways include
# ("store/..." from cas/) and a reach into another layer's *_impl.h fail to
# compile. Headers of one layer must include only its interface headers and
# lower layers' (an interface header is also read through public/).
# tests/layers/ proves each rule with a file that must not compile.

function(arca_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  set(root ${CMAKE_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root}/private ${root}/public/${name})
  file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${name} ${root}/private/${name} SYMBOLIC)
  file(GLOB headers CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}/${name}
    ${CMAKE_SOURCE_DIR}/${name}/*.h)
  foreach(h ${headers})
    if(NOT h MATCHES "_impl\\.h$")
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${name}/${h} ${root}/public/${name}/${h} SYMBOLIC)
    endif()
  endforeach()

  add_library(arca_${name} OBJECT ${L_SOURCES})
  arca_layer_setup(arca_${name} ${name})
  target_include_directories(arca_${name} PUBLIC ${root}/public
    ${CMAKE_SOURCE_DIR}/include ${ARCA_GENERATED_INCLUDE})
  foreach(d ${L_DEPS})
    target_link_libraries(arca_${name} PUBLIC arca_${d})
  endforeach()
  target_link_libraries(arca_${name} PUBLIC ${L_LIBS})
  set_property(GLOBAL PROPERTY ARCA_LAYER_DEPS_${name} ${L_DEPS})
  set_property(GLOBAL APPEND PROPERTY ARCA_LAYERS arca_${name})
endfunction()

# Compile flags and include path of a source file of layer `name`.
function(arca_layer_setup target name)
  target_include_directories(${target} PRIVATE ${CMAKE_BINARY_DIR}/layers/${name}/private)
  target_compile_options(${target} PRIVATE ${ARCA_BANNED_FLAGS})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
endfunction()

# A file compiled as if it were part of layer `name` (not built by default):
# the layer probes in tests/layers/ build it with `cmake --build`.
function(arca_layer_probe target name file)
  add_library(${target} OBJECT EXCLUDE_FROM_ALL ${file})
  if(name STREQUAL "cli")
    target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/include
      ${ARCA_GENERATED_INCLUDE})
    target_compile_options(${target} PRIVATE ${ARCA_BANNED_FLAGS})
    return()
  endif()
  arca_layer_setup(${target} ${name})
  target_include_directories(${target} PRIVATE ${CMAKE_BINARY_DIR}/layers/${name}/public
    ${CMAKE_SOURCE_DIR}/include ${ARCA_GENERATED_INCLUDE})
  get_property(deps GLOBAL PROPERTY ARCA_LAYER_DEPS_${name})
  foreach(d ${deps})
    target_link_libraries(${target} PRIVATE arca_${d})
  endforeach()
endfunction()
