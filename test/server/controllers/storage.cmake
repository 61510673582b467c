# Storage and quota controllers: PV binder, local-path provisioner, ResourceQuota.
minik_add_unit_test(controllers_storage_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/persistent_volume_binder_test.cc
          ${CMAKE_CURRENT_SOURCE_DIR}/local_path_provisioner_test.cc
          ${CTRL_SRC}/persistent_volume_binder.cc ${CTRL_SRC}/local_path_provisioner.cc
  DEPS minik_controller_framework)
minik_add_unit_test(controllers_resource_quota_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/resource_quota_test.cc ${CTRL_SRC}/resource_quota.cc
  DEPS minik_controller_framework)
