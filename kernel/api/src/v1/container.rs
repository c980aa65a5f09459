//! How to contain a task: `ContainerInfo` (MESOS or DOCKER), volumes,
//! images, networks, Linux and rlimit settings, and the `ContainerStatus`
//! the agent reports back.
//!
//! Owns only JSON shapes and proto defaults. Isolation itself belongs to
//! the agent's containerizer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::{Credential, Secret};
use super::ids::ContainerId;
use super::values::{Labels, Parameter, Parameters};

wire_enum! {
    /// `ContainerInfo.Type`.
    pub enum ContainerType {
        /// The Docker containerizer.
        Docker(DOCKER = 1),
        /// The Mesos (universal) containerizer.
        Mesos(MESOS = 2),
    }
}

/// `ContainerInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Which containerizer; the matching field below may be set.
    #[serde(rename = "type")]
    pub kind: ContainerType,
    /// Volumes to mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Hostname inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// For DOCKER containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    /// For MESOS containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<MesosInfo>,
    /// Networks to join / IPs requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    /// Linux-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<LinuxInfo>,
    /// POSIX rlimits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimit_info: Option<RLimitInfo>,
    /// Attach a TTY to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty_info: Option<TtyInfo>,
}

impl ContainerInfo {
    /// A MESOS container with no image.
    pub fn mesos() -> Self {
        Self::new(ContainerType::Mesos)
    }

    /// A DOCKER container running `image`.
    pub fn docker(image: impl Into<String>) -> Self {
        Self {
            docker: Some(DockerInfo::new(image)),
            ..Self::new(ContainerType::Docker)
        }
    }

    fn new(kind: ContainerType) -> Self {
        Self {
            kind,
            volumes: Vec::new(),
            hostname: None,
            docker: None,
            mesos: None,
            network_infos: Vec::new(),
            linux_info: None,
            rlimit_info: None,
            tty_info: None,
        }
    }
}

wire_enum! {
    /// `ContainerInfo.DockerInfo.Network`.
    pub enum DockerNetwork {
        /// Share the host's network namespace (the proto default).
        Host(HOST = 1),
        /// Docker's bridge network with port mappings.
        Bridge(BRIDGE = 2),
        /// No networking.
        None(NONE = 3),
        /// A user-defined network (named in `network_infos`).
        User(USER = 4),
    }
}

/// `ContainerInfo.DockerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image reference.
    pub image: String,
    /// Network mode (default HOST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<DockerNetwork>,
    /// Port mappings for BRIDGE/USER networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// `--privileged` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Extra `docker run` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Pull even if the image is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
    /// Deprecated volume driver name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_driver: Option<String>,
}

impl DockerInfo {
    /// Docker info for `image` with all defaults.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            network: None,
            port_mappings: Vec::new(),
            privileged: None,
            parameters: Vec::new(),
            force_pull_image: None,
            volume_driver: None,
        }
    }

    /// `network`, with the proto default (HOST) applied.
    pub fn network(&self) -> DockerNetwork {
        self.network.unwrap_or(DockerNetwork::Host)
    }
}

/// A host-to-container port mapping (`DockerInfo.PortMapping` and
/// `NetworkInfo.PortMapping` have the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u32,
    /// Port in the container.
    pub container_port: u32,
    /// `tcp`, `udp`, or both as `tcp,udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `ContainerInfo.MesosInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesosInfo {
    /// Root filesystem image, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

wire_enum! {
    /// `Image.Type`.
    pub enum ImageType {
        /// An App Container image.
        Appc(APPC = 1),
        /// A Docker image.
        Docker(DOCKER = 2),
    }
}

/// `Image`: a container image for the Mesos containerizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// APPC or DOCKER.
    #[serde(rename = "type")]
    pub kind: ImageType,
    /// For APPC images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appc: Option<AppcImage>,
    /// For DOCKER images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerImage>,
    /// Use a cached copy if present (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

impl Image {
    /// A Docker image by name.
    pub fn docker(name: impl Into<String>) -> Self {
        Self {
            kind: ImageType::Docker,
            appc: None,
            docker: Some(DockerImage {
                name: name.into(),
                credential: None,
                config: None,
            }),
            cached: None,
        }
    }

    /// `cached`, with the proto default (true) applied.
    pub fn cached(&self) -> bool {
        self.cached.unwrap_or(true)
    }
}

/// `Image.Appc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppcImage {
    /// Image name.
    pub name: String,
    /// `sha512-…` image ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Labels such as version, os, arch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `Image.Docker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerImage {
    /// `[REGISTRY[:PORT]/]REPOSITORY[:TAG|@DIGEST]`.
    pub name: String,
    /// Deprecated since 1.3; use `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// Docker config JSON with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Secret>,
}

wire_enum! {
    /// `Volume.Mode`.
    pub enum VolumeMode {
        /// Read-write.
        Rw(RW = 1),
        /// Read-only.
        Ro(RO = 2),
    }
}

/// `Volume`: a mapping into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// RW or RO.
    pub mode: VolumeMode,
    /// Path in the container (relative = relative to the sandbox).
    pub container_path: String,
    /// Host path (legacy form of a HOST_PATH source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// An image to provision as the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Where the volume comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

wire_enum! {
    /// `Volume.Source.Type`.
    pub enum VolumeSourceType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// A Docker volume driver volume.
        DockerVolume(DOCKER_VOLUME = 1),
        /// A path in a sandbox.
        SandboxPath(SANDBOX_PATH = 2),
        /// A secret made available as a file.
        Secret(SECRET = 3),
        /// A path on the host.
        HostPath(HOST_PATH = 4),
        /// A CSI volume.
        CsiVolume(CSI_VOLUME = 5),
    }
    unknown => Unknown
}

/// `Volume.Source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSource {
    /// Which field below is set.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VolumeSourceType>,
    /// For DOCKER_VOLUME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_volume: Option<DockerVolume>,
    /// For HOST_PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPath>,
    /// For SANDBOX_PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_path: Option<SandboxPath>,
    /// For SECRET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// For CSI_VOLUME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_volume: Option<CsiVolume>,
}

/// `Volume.Source.DockerVolume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerVolume {
    /// Volume driver (flocker, convoy, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Volume name.
    pub name: String,
    /// Driver options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_options: Option<Parameters>,
}

wire_enum! {
    /// `MountPropagation.Mode`.
    pub enum MountPropagationMode {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Host mounts propagate into the container only.
        HostToContainer(HOST_TO_CONTAINER = 1),
        /// Mounts propagate both ways.
        Bidirectional(BIDIRECTIONAL = 2),
    }
    unknown => Unknown
}

/// `MountPropagation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPropagation {
    /// Propagation mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MountPropagationMode>,
}

/// `Volume.Source.HostPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPath {
    /// Absolute host path.
    pub path: String,
    /// Mount propagation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<MountPropagation>,
}

wire_enum! {
    /// `Volume.Source.SandboxPath.Type`.
    pub enum SandboxPathType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// This container's sandbox.
        SelfSandbox(SELF = 1),
        /// The parent container's sandbox.
        Parent(PARENT = 2),
    }
    unknown => Unknown
}

/// `Volume.Source.SandboxPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPath {
    /// SELF or PARENT.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SandboxPathType>,
    /// Path relative to that sandbox.
    pub path: String,
}

/// `Volume.Source.CSIVolume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsiVolume {
    /// CSI plugin name.
    pub plugin_name: String,
    /// A pre-provisioned volume to stage and publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_provisioning: Option<CsiStaticProvisioning>,
}

/// `Volume.Source.CSIVolume.StaticProvisioning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsiStaticProvisioning {
    /// CSI volume ID.
    pub volume_id: String,
    /// How the volume is accessed.
    pub volume_capability: CsiVolumeCapability,
    /// Secrets for NodeStageVolume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_stage_secrets: BTreeMap<String, Secret>,
    /// Secrets for NodePublishVolume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_publish_secrets: BTreeMap<String, Secret>,
    /// Volume context.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_context: BTreeMap<String, String>,
}

/// `Volume.Source.CSIVolume.VolumeCapability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsiVolumeCapability {
    /// Block access (an empty message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<serde_json::Map<String, serde_json::Value>>,
    /// Filesystem access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<CsiMountVolume>,
    /// Access mode, `{"mode": "SINGLE_NODE_WRITER"}` etc.
    pub access_mode: CsiAccessMode,
}

/// `…VolumeCapability.MountVolume`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsiMountVolume {
    /// Filesystem type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// Mount flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_flags: Vec<String>,
}

/// `…VolumeCapability.AccessMode`. The mode is kept as its proto name
/// (`SINGLE_NODE_WRITER`, …): the agent passes it through to the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsiAccessMode {
    /// Access mode name.
    pub mode: String,
}

wire_enum! {
    /// `NetworkInfo.Protocol`.
    pub enum NetworkProtocol {
        /// IPv4 (the proto default).
        IPv4(IPv4 = 1),
        /// IPv6.
        IPv6(IPv6 = 2),
    }
}

/// `NetworkInfo`: a network request, or the addresses a container got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// IP addresses requested or assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    /// Network name (a CNI network, for instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Isolation groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Metadata for isolators/IPAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Port mappings on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
}

/// `NetworkInfo.IPAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    /// Requested protocol (default IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<NetworkProtocol>,
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

wire_enum! {
    /// `CapabilityInfo.Capability`: Linux capabilities (offset by 1000).
    pub enum LinuxCapability {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// CAP_CHOWN.
        Chown(CHOWN = 1000),
        /// CAP_DAC_OVERRIDE.
        DacOverride(DAC_OVERRIDE = 1001),
        /// CAP_DAC_READ_SEARCH.
        DacReadSearch(DAC_READ_SEARCH = 1002),
        /// CAP_FOWNER.
        Fowner(FOWNER = 1003),
        /// CAP_FSETID.
        Fsetid(FSETID = 1004),
        /// CAP_KILL.
        Kill(KILL = 1005),
        /// CAP_SETGID.
        Setgid(SETGID = 1006),
        /// CAP_SETUID.
        Setuid(SETUID = 1007),
        /// CAP_SETPCAP.
        Setpcap(SETPCAP = 1008),
        /// CAP_LINUX_IMMUTABLE.
        LinuxImmutable(LINUX_IMMUTABLE = 1009),
        /// CAP_NET_BIND_SERVICE.
        NetBindService(NET_BIND_SERVICE = 1010),
        /// CAP_NET_BROADCAST.
        NetBroadcast(NET_BROADCAST = 1011),
        /// CAP_NET_ADMIN.
        NetAdmin(NET_ADMIN = 1012),
        /// CAP_NET_RAW.
        NetRaw(NET_RAW = 1013),
        /// CAP_IPC_LOCK.
        IpcLock(IPC_LOCK = 1014),
        /// CAP_IPC_OWNER.
        IpcOwner(IPC_OWNER = 1015),
        /// CAP_SYS_MODULE.
        SysModule(SYS_MODULE = 1016),
        /// CAP_SYS_RAWIO.
        SysRawio(SYS_RAWIO = 1017),
        /// CAP_SYS_CHROOT.
        SysChroot(SYS_CHROOT = 1018),
        /// CAP_SYS_PTRACE.
        SysPtrace(SYS_PTRACE = 1019),
        /// CAP_SYS_PACCT.
        SysPacct(SYS_PACCT = 1020),
        /// CAP_SYS_ADMIN.
        SysAdmin(SYS_ADMIN = 1021),
        /// CAP_SYS_BOOT.
        SysBoot(SYS_BOOT = 1022),
        /// CAP_SYS_NICE.
        SysNice(SYS_NICE = 1023),
        /// CAP_SYS_RESOURCE.
        SysResource(SYS_RESOURCE = 1024),
        /// CAP_SYS_TIME.
        SysTime(SYS_TIME = 1025),
        /// CAP_SYS_TTY_CONFIG.
        SysTtyConfig(SYS_TTY_CONFIG = 1026),
        /// CAP_MKNOD.
        Mknod(MKNOD = 1027),
        /// CAP_LEASE.
        Lease(LEASE = 1028),
        /// CAP_AUDIT_WRITE.
        AuditWrite(AUDIT_WRITE = 1029),
        /// CAP_AUDIT_CONTROL.
        AuditControl(AUDIT_CONTROL = 1030),
        /// CAP_SETFCAP.
        Setfcap(SETFCAP = 1031),
        /// CAP_MAC_OVERRIDE.
        MacOverride(MAC_OVERRIDE = 1032),
        /// CAP_MAC_ADMIN.
        MacAdmin(MAC_ADMIN = 1033),
        /// CAP_SYSLOG.
        Syslog(SYSLOG = 1034),
        /// CAP_WAKE_ALARM.
        WakeAlarm(WAKE_ALARM = 1035),
        /// CAP_BLOCK_SUSPEND.
        BlockSuspend(BLOCK_SUSPEND = 1036),
        /// CAP_AUDIT_READ.
        AuditRead(AUDIT_READ = 1037),
        /// CAP_PERFMON.
        Perfmon(PERFMON = 1038),
        /// CAP_BPF.
        Bpf(BPF = 1039),
        /// CAP_CHECKPOINT_RESTORE.
        CheckpointRestore(CHECKPOINT_RESTORE = 1040),
    }
    unknown => Unknown
}

/// `CapabilityInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityInfo {
    /// The capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<LinuxCapability>,
}

/// `SeccompInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompInfo {
    /// Profile file under `--seccomp_config_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// Run without seccomp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfined: Option<bool>,
}

wire_enum! {
    /// `LinuxInfo.IpcMode`.
    pub enum IpcMode {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Own IPC namespace and /dev/shm.
        Private(PRIVATE = 1),
        /// Share the parent's.
        ShareParent(SHARE_PARENT = 2),
    }
    unknown => Unknown
}

/// `LinuxInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxInfo {
    /// Deprecated since 1.4; use `effective_capabilities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_info: Option<CapabilityInfo>,
    /// Bounding set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding_capabilities: Option<CapabilityInfo>,
    /// Effective set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_capabilities: Option<CapabilityInfo>,
    /// Share the parent's pid namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_pid_namespace: Option<bool>,
    /// Seccomp override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompInfo>,
    /// IPC namespace mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<IpcMode>,
    /// /dev/shm size in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u32>,
    /// Share the parent's cgroups (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_cgroups: Option<bool>,
}

wire_enum! {
    /// `RLimitInfo.RLimit.Type`.
    pub enum RLimitType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// RLIMIT_AS.
        As(RLMT_AS = 1),
        /// RLIMIT_CORE.
        Core(RLMT_CORE = 2),
        /// RLIMIT_CPU.
        Cpu(RLMT_CPU = 3),
        /// RLIMIT_DATA.
        Data(RLMT_DATA = 4),
        /// RLIMIT_FSIZE.
        Fsize(RLMT_FSIZE = 5),
        /// RLIMIT_LOCKS.
        Locks(RLMT_LOCKS = 6),
        /// RLIMIT_MEMLOCK.
        Memlock(RLMT_MEMLOCK = 7),
        /// RLIMIT_MSGQUEUE.
        Msgqueue(RLMT_MSGQUEUE = 8),
        /// RLIMIT_NICE.
        Nice(RLMT_NICE = 9),
        /// RLIMIT_NOFILE.
        Nofile(RLMT_NOFILE = 10),
        /// RLIMIT_NPROC.
        Nproc(RLMT_NPROC = 11),
        /// RLIMIT_RSS.
        Rss(RLMT_RSS = 12),
        /// RLIMIT_RTPRIO.
        Rtprio(RLMT_RTPRIO = 13),
        /// RLIMIT_RTTIME.
        Rttime(RLMT_RTTIME = 14),
        /// RLIMIT_SIGPENDING.
        Sigpending(RLMT_SIGPENDING = 15),
        /// RLIMIT_STACK.
        Stack(RLMT_STACK = 16),
    }
    unknown => Unknown
}

/// `RLimitInfo.RLimit`. Both bounds unset means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RLimit {
    /// Which limit.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RLimitType>,
    /// Hard limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<u64>,
    /// Soft limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<u64>,
}

/// `RLimitInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RLimitInfo {
    /// The limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<RLimit>,
}

/// `TTYInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtyInfo {
    /// Initial window size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_size: Option<WindowSize>,
}

/// `TTYInfo.WindowSize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSize {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
}

/// `ContainerStatus`: what the agent learned while setting a container up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// The container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
    /// Assigned addresses; the reliable way to find the container IP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    /// cgroup information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_info: Option<CgroupInfo>,
    /// PID of the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_pid: Option<u32>,
}

/// `CgroupInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupInfo {
    /// net_cls settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_cls: Option<NetCls>,
}

/// `CgroupInfo.NetCls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCls {
    /// `0xAAAABBBB` class ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_container_round_trip() {
        let json = r#"{
            "type": "DOCKER",
            "docker": {"image": "nginx:1.25", "network": "BRIDGE",
                       "port_mappings": [{"host_port": 31000, "container_port": 80, "protocol": "tcp"}],
                       "parameters": [{"key": "ulimit", "value": "nofile=1024"}]},
            "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RW"}]
        }"#;
        let c: ContainerInfo = serde_json::from_str(json).unwrap();
        assert_eq!(c.kind, ContainerType::Docker);
        let docker = c.docker.as_ref().unwrap();
        assert_eq!(docker.network(), DockerNetwork::Bridge);
        assert_eq!(docker.port_mappings[0].container_port, 80);
        let again: ContainerInfo =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn mesos_container_with_image_and_network() {
        let json = r#"{"type":"MESOS","mesos":{"image":{"type":"DOCKER","docker":{"name":"alpine"}}},
                       "network_infos":[{"name":"dcos","ip_addresses":[{"protocol":"IPv4"}]}]}"#;
        let c: ContainerInfo = serde_json::from_str(json).unwrap();
        let image = c.mesos.unwrap().image.unwrap();
        assert!(image.cached());
        assert_eq!(image.docker.unwrap().name, "alpine");
        assert_eq!(
            c.network_infos[0].ip_addresses[0].protocol,
            Some(NetworkProtocol::IPv4)
        );
    }

    #[test]
    fn unknown_capability_falls_back() {
        let c: CapabilityInfo =
            serde_json::from_str(r#"{"capabilities":["NET_ADMIN","SOMETHING_NEW"]}"#).unwrap();
        assert_eq!(
            c.capabilities,
            vec![LinuxCapability::NetAdmin, LinuxCapability::Unknown]
        );
    }
}
