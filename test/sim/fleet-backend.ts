import type { NetnsFloor } from './netns.js'
import type { SimDeviceHandle, SimDeviceSpec } from './sim-device.js'

/** What every device of a floor shares, before the backend adds addresses and discovery. */
export type DeviceSpecBase = Omit<SimDeviceSpec, 'listen' | 'peers' | 'mdns' | 'allowHosts'>

export interface BackendInit {
  devices: number
  /** the spec of device `index` (its name, folder, fleet, trust, trial scripts…) */
  specOf(index: number): DeviceSpecBase
}

/** CPU-seconds used so far. */
export interface FleetCpu {
  /** this process (in-process mode: every device too) */
  simulatorSeconds: number
  /** each device's process, by device index; undefined in-process */
  deviceSeconds: number[] | undefined
}

/** A started floor of devices, in one process or in namespaces. */
export interface FleetBackend {
  readonly mode: 'inprocess' | 'netns'
  readonly devices: readonly SimDeviceHandle[]
  /** the namespaces, in netns mode */
  readonly floor?: NetnsFloor
  cpu(): FleetCpu
  close(): Promise<void>
}

/**
 * Waits until every device is connected to every other, so a release's time
 * is spent spreading it, not discovering peers. Polls the devices' own
 * counts (in netns mode there is no event to listen to across processes).
 */
export async function waitForMesh(
  devices: readonly SimDeviceHandle[],
  timeoutMs: number,
): Promise<{ seconds: number; complete: boolean }> {
  const started = performance.now()
  const want = devices.length - 1
  for (;;) {
    const stats = await Promise.all(devices.map(d => d.stats()))
    if (stats.every(s => s.connectedPeers >= want)) {
      return { seconds: (performance.now() - started) / 1000, complete: true }
    }
    if (performance.now() - started > timeoutMs) {
      return { seconds: (performance.now() - started) / 1000, complete: false }
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
