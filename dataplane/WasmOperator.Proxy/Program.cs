// The data-plane proxy: Kestrel + YARP hosting the Proxy-Wasm plugin chain.
return 0;
