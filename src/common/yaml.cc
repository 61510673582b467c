// Implemented by the api-machinery work.
