# The ReplicaSet and ReplicationController controllers (one shared implementation).
minik_add_unit_test(controllers_replica_set_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/replica_set_test.cc ${CTRL_SRC}/replica_set.cc
  DEPS minik_controller_framework)
minik_add_unit_test(controllers_replication_controller_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/replication_controller_test.cc ${CTRL_SRC}/replica_set.cc
          ${CTRL_SRC}/replication_controller.cc
  DEPS minik_controller_framework)
