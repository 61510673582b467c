# Node lifecycle, taint eviction, pod GC, disruption (PDB status) and HPA controllers.
minik_add_unit_test(controllers_node_lifecycle_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/node_lifecycle_test.cc
  ${CTRL_SRC}/node_lifecycle.cc DEPS minik_controller_framework)
minik_add_unit_test(controllers_taint_eviction_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/taint_eviction_test.cc
  ${CTRL_SRC}/taint_eviction.cc DEPS minik_controller_framework)
minik_add_unit_test(controllers_pod_gc_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/pod_gc_test.cc
  ${CTRL_SRC}/pod_gc.cc DEPS minik_controller_framework)
minik_add_unit_test(controllers_disruption_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/disruption_test.cc
  ${CTRL_SRC}/disruption.cc DEPS minik_controller_framework)
minik_add_unit_test(controllers_horizontal_pod_autoscaler_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/horizontal_pod_autoscaler_test.cc
  ${CTRL_SRC}/horizontal_pod_autoscaler.cc DEPS minik_controller_framework)
