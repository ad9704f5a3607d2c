import { ownCpuSeconds } from './cpu.js'
import type { BackendInit, DeviceSpecBase, FleetBackend, FleetCpu } from './fleet-backend.js'
import { SimDevice } from './sim-device.js'

const LOOPBACK = '/ip4/127.0.0.1'

/** A floor in this process, on loopback, that can grow after it started. */
export interface InProcessBackend extends FleetBackend {
  readonly mode: 'inprocess'
  readonly devices: SimDevice[]
  /** starts one more device, told of every device running now (a late joiner) */
  addDevice(spec: DeviceSpecBase): Promise<SimDevice>
}

/**
 * Every device in this process on 127.0.0.1. There is no mDNS here (it would
 * leave loopback for the host's LAN), so each device is given every device
 * started before it as a static peer: the same full mesh mDNS gives a floor.
 * The libp2p inbound rate limit is lifted for 127.0.0.1, which all of them
 * share.
 */
export async function startInProcessBackend(init: BackendInit): Promise<InProcessBackend> {
  const devices: SimDevice[] = []
  let closing: Promise<void> | undefined

  const addDevice = async (base: DeviceSpecBase): Promise<SimDevice> => {
    const device = await SimDevice.start({
      ...base,
      listen: [`${LOOPBACK}/tcp/0`],
      peers: devices.flatMap(d => d.addresses.slice(0, 1)),
      mdns: false,
      allowHosts: [LOOPBACK],
    })
    devices.push(device)
    return device
  }

  const close = (): Promise<void> => {
    closing ??= Promise.allSettled(devices.map(d => d.stop())).then(results => {
      const failed = results.find(r => r.status === 'rejected')
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    })
    return closing
  }

  try {
    // one after another: each needs the addresses of those before it
    for (let index = 0; index < init.devices; index++) await addDevice(init.specOf(index))
  } catch (err) {
    await close().catch(() => {})
    throw err
  }

  return {
    mode: 'inprocess',
    devices,
    addDevice,
    cpu: (): FleetCpu => ({ simulatorSeconds: ownCpuSeconds(), deviceSeconds: undefined }),
    close,
  }
}
