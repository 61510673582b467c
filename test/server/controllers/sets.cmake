# DaemonSet and StatefulSet controllers (each with the ControllerRevision history helpers).
minik_add_unit_test(controllers_daemon_set_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/daemon_set_test.cc ${CTRL_SRC}/daemon_set.cc ${CTRL_SRC}/controller_history.cc
  DEPS minik_controller_framework)
minik_add_unit_test(controllers_stateful_set_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stateful_set_test.cc ${CTRL_SRC}/stateful_set.cc ${CTRL_SRC}/controller_history.cc
  DEPS minik_controller_framework)
