// Test fixtures of the collectors (emulated devices, real servers started on loopback, device
// outputs): for tests only, never imported by product code.
export { DeviceCli } from './device.emulator';
export type { EmulatedDeviceState, EmulatedKind } from './device.emulator';
export { ASA_RUNNING_CONFIG, ASA_SOCKET_TABLE, fill, IOS_OPEN_PORTS, IOS_RUNNING_CONFIG, JUNOS_CONNECTIONS, JUNOS_SET_CONFIG, WINDOWS_REGISTRY } from './device.samples';
export { newEd25519KeyPair, startSshDevice, startTelnetDevice } from './device.servers';
export type { EmulatorLogin, RunningEmulator } from './device.servers';
export { prepareTestUser, startSamba, startSshd, startTelnetd, TEST_USER, waitForPort } from './real-servers';
export type { RealServer } from './real-servers';
