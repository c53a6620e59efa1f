// Local Kubernetes-API-compatible server for development and tests.
return 0;
