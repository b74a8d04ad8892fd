//! `ContainerizedWorkload`: OAM's built-in workload kind that runs OCI containers
//! (rendered by the `containerized` plugin into a Deployment, a Service and friends).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, TypedReference};

/// A ContainerizedWorkloadSpec defines the desired state of a ContainerizedWorkload.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "ContainerizedWorkload",
    namespaced,
    status = "ContainerizedWorkloadStatus",
    category = "crossplane",
    category = "oam",
    doc = "A ContainerizedWorkload is a workload that runs OCI containers."
)]
#[serde(rename_all = "camelCase")]
pub struct ContainerizedWorkloadSpec {
    /// OperatingSystem required by this workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OperatingSystem>,
    /// CPUArchitecture required by this workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<CpuArchitecture>,
    /// Containers of which this workload consists.
    pub containers: Vec<Container>,
}

/// An operating system a workload may require.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum OperatingSystem {
    /// Linux.
    Linux,
    /// Windows.
    Windows,
}

/// A CPU architecture a workload may require.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CpuArchitecture {
    /// 32-bit x86.
    I386,
    /// 64-bit x86.
    Amd64,
    /// 32-bit ARM.
    Arm,
    /// 64-bit ARM.
    Arm64,
}

/// A Container represents an Open Containers Initiative (OCI) container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name of this container. Must be unique within its workload.
    pub name: String,
    /// Image this container should run. Must be a path-like or URI-like representation
    /// of an OCI image. May be prefixed with a registry address and should be suffixed
    /// with a tag.
    pub image: String,
    /// When to pull the image: `Always`, `IfNotPresent` or `Never`, as for a Pod.
    ///
    /// Superset of upstream, which has no such field (catalog samples set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Resources required by this container
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ContainerResources>,
    /// Command to be run by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Arguments to be passed to the command run by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Environment variables that should be set within this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<ContainerEnvVar>>,
    /// ConfigFiles that should be written within this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Vec<ContainerConfigFile>>,
    /// Ports exposed by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    /// A LivenessProbe assesses whether this container is alive. Containers that fail
    /// liveness probes will be restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<ContainerHealthProbe>,
    /// A ReadinessProbe assesses whether this container is ready to serve requests.
    /// Containers that fail readiness probes will be withdrawn from service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<ContainerHealthProbe>,
    /// ImagePullSecret specifies the name of a Secret from which the credentials
    /// required to pull this container's image can be loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<String>,
}

/// ContainerResources specifies a container's required compute resources.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerResources {
    /// CPU required by this container.
    pub cpu: CpuResources,
    /// Memory required by this container.
    pub memory: MemoryResources,
    /// GPU required by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuResources>,
    /// Volumes required by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<VolumeResource>>,
    /// Extended resources required by this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended: Option<Vec<ExtendedResource>>,
}

/// CPUResources required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CpuResources {
    /// Required CPU count. 1.0 represents one CPU core.
    pub required: String,
}

/// MemoryResources required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryResources {
    /// Required memory.
    pub required: String,
}

/// GPUResources required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GpuResources {
    /// Required GPU count.
    pub required: String,
}

/// VolumeResource required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeResource {
    /// Name of this volume. Must be unique within its container.
    pub name: String,
    /// MountPath at which this volume will be mounted within its container.
    pub mount_path: String,
    /// AccessMode of this volume; RO (read only) or RW (read and write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<VolumeAccessMode>,
    /// SharingPolicy of this volume; Exclusive or Shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing_policy: Option<VolumeSharingPolicy>,
    /// Disk requirements of this volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskResource>,
}

/// How a volume may be accessed.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VolumeAccessMode {
    /// Read only.
    #[serde(rename = "RO")]
    ReadOnly,
    /// Read and write.
    #[serde(rename = "RW")]
    ReadWrite,
}

/// Whether a volume is shared between containers.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VolumeSharingPolicy {
    /// Used by one container only.
    Exclusive,
    /// Shared between containers.
    Shared,
}

/// DiskResource required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiskResource {
    /// Required disk space.
    pub required: String,
    /// Ephemeral specifies whether an external disk needs to be mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
}

/// ExtendedResource required by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedResource {
    /// Name of the external resource. Resource names are specified in
    /// kind.group/version format, e.g. motionsensor.ext.example.com/v1.
    pub name: String,
    /// Required extended resource(s), e.g. 8 or "very-cool-widget"
    pub required: IntOrString,
}

/// A ContainerEnvVar specifies an environment variable that should be set within a
/// container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEnvVar {
    /// Name of the environment variable. Must be composed of valid Unicode letter and
    /// number characters, as well as _ and -.
    #[schemars(regex(pattern = r"^[-_a-zA-Z0-9]+$"))]
    pub name: String,
    /// Value of the environment variable.
    ///
    /// Superset of upstream: int-or-string (upstream: string), because components write
    /// `value: 5432` (examples/flight-tracker); the value is the number's decimal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<IntOrString>,
    /// FromSecret is a secret key reference which can be used to assign a value to the
    /// environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_secret: Option<SecretKeySelector>,
}

impl ContainerEnvVar {
    /// The literal value as the container sees it, if one is set.
    pub fn value_text(&self) -> Option<String> {
        self.value.as_ref().map(|v| match v {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        })
    }
}

/// A SecretKeySelector is a reference to a secret key in an arbitrary namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// The name of the secret.
    pub name: String,
    /// The key to select.
    pub key: String,
}

/// A ContainerConfigFile specifies a configuration file that should be written within a
/// container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfigFile {
    /// Path within the container at which the configuration file should be written.
    pub path: String,
    /// Value that should be written to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// FromSecret is a secret key reference which can be used to assign a value to be
    /// written to the configuration file at the given path in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_secret: Option<SecretKeySelector>,
}

/// A ContainerPort specifies a port that is exposed by a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Name of this port. Must be unique within its container. Must be lowercase
    /// alphabetical characters.
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    pub name: String,
    /// Port number. Must be unique within its container.
    pub container_port: i32,
    /// Protocol used by the server listening on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
}

/// A transport protocol.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum TransportProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A ContainerHealthProbe specifies how to probe the health of a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealthProbe {
    /// Exec probes a container's health by executing a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecProbe>,
    /// HTTPGet probes a container's health by sending an HTTP GET request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetProbe>,
    /// TCPSocketProbe probes a container's health by connecting to a TCP socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketProbe>,
    /// InitialDelaySeconds after a container starts before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// TimeoutSeconds after which the probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// PeriodSeconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// SuccessThreshold specifies how many consecutive probes must success in order for
    /// the container to be considered healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// FailureThreshold specifies how many consecutive probes must fail in order for the
    /// container to be considered healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
}

/// An ExecProbe probes a container's health by executing a command.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExecProbe {
    /// Command to be run by this probe.
    pub command: Vec<String>,
}

/// An HTTPGetProbe probes a container's health by sending an HTTP GET request.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetProbe {
    /// Path to probe, e.g. '/healthz'.
    pub path: String,
    /// Port to probe.
    pub port: i32,
    /// HTTPHeaders to send with the GET request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<Vec<HttpHeader>>,
}

/// A HTTPHeader to be passed when probing a container.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// Name of this HTTP header. Must be unique per probe.
    pub name: String,
    /// Value of this HTTP header.
    pub value: String,
}

/// A TCPSocketProbe probes a container's health by connecting to a TCP socket.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketProbe {
    /// Port this probe should connect to.
    pub port: i32,
}

/// A ContainerizedWorkloadStatus represents the observed state of a
/// ContainerizedWorkload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerizedWorkloadStatus {
    /// Conditions of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Resources managed by this containerised workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<TypedReference>,
}
