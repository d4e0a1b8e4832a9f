//! AWS error shapes: every error an API can return is a variant with its AWS name and
//! HTTP status, so handlers return `Err(ApiError::ClusterNotFound(..))` and one place
//! (the server's response mapping) turns it into `{"__type": ..., "message": ...}`.

use serde::{Deserialize, Serialize};

macro_rules! api_errors {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal), )*) => {
        /// An error as AWS reports it: a type name, an HTTP status and a message.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum ApiError {
            $( $(#[$doc])* #[error("{0}")] $variant(String), )*
        }

        impl ApiError {
            /// The AWS error type, sent as `__type`.
            pub fn code(&self) -> &'static str {
                match self { $( ApiError::$variant(_) => $code, )* }
            }
            /// The HTTP status AWS uses for this error.
            pub fn status(&self) -> u16 {
                match self { $( ApiError::$variant(_) => $status, )* }
            }
            /// The human-readable message.
            pub fn message(&self) -> &str {
                match self { $( ApiError::$variant(m) => m, )* }
            }
        }
    };
}

api_errors! {
    /// The request was malformed or invalid for the resource's state.
    Client => ("ClientException", 400),
    /// A parameter was missing or has an invalid value.
    InvalidParameter => ("InvalidParameterException", 400),
    /// The named cluster does not exist.
    ClusterNotFound => ("ClusterNotFoundException", 400),
    /// The cluster still has registered container instances.
    ClusterContainsContainerInstances => ("ClusterContainsContainerInstancesException", 400),
    /// The cluster still has active services.
    ClusterContainsServices => ("ClusterContainsServicesException", 400),
    /// The cluster still has tasks that are not stopped.
    ClusterContainsTasks => ("ClusterContainsTasksException", 400),
    /// The named service does not exist.
    ServiceNotFound => ("ServiceNotFoundException", 400),
    /// The named service is not active.
    ServiceNotActive => ("ServiceNotActiveException", 400),
    /// The named task set does not exist in the service.
    TaskSetNotFound => ("TaskSetNotFoundException", 400),
    /// A resource (other than a cluster or service) does not exist.
    ResourceNotFound => ("ResourceNotFoundException", 400),
    /// The resource is in use.
    ResourceInUse => ("ResourceInUseException", 400),
    /// The target of a PutAttributes call does not exist.
    TargetNotFound => ("TargetNotFoundException", 400),
    /// Too many attributes on one resource.
    AttributeLimitExceeded => ("AttributeLimitExceededException", 400),
    /// A limit was exceeded.
    LimitExceeded => ("LimitExceededException", 400),
    /// The feature is not supported by Berth or this region.
    UnsupportedFeature => ("UnsupportedFeatureException", 400),
    /// The caller may not perform the action.
    AccessDenied => ("AccessDeniedException", 400),
    /// The request body could not be read as the operation's input.
    Serialization => ("SerializationException", 400),
    /// The X-Amz-Target names no operation of this service.
    UnknownOperation => ("UnknownOperationException", 400),
    /// The request body is larger than the service accepts.
    RequestEntityTooLarge => ("RequestEntityTooLargeException", 413),
    /// The request was not signed.
    MissingAuthenticationToken => ("MissingAuthenticationTokenException", 403),
    /// The Authorization header is malformed.
    IncompleteSignature => ("IncompleteSignatureException", 400),
    /// The signature does not match, or it has expired.
    InvalidSignature => ("InvalidSignatureException", 403),
    /// The request is signed with temporary credentials that have expired.
    ExpiredToken => ("ExpiredTokenException", 403),
    /// The access key or security token is not known.
    UnrecognizedClient => ("UnrecognizedClientException", 403),
    /// Too many requests.
    Throttling => ("ThrottlingException", 400),
    /// The server failed; the request may be retried.
    Server => ("ServerException", 500),
    /// The request is for an AWS service Berth does not serve (its signature's credential
    /// scope names it); the message says which, and which Berth serves.
    NotServed => ("NotImplemented", 501),
    /// ECR: a repository of that name exists already.
    RepositoryAlreadyExists => ("RepositoryAlreadyExistsException", 400),
    /// ECR: the named repository does not exist.
    RepositoryNotFound => ("RepositoryNotFoundException", 400),
    /// ECR: the repository still holds images (delete with force).
    RepositoryNotEmpty => ("RepositoryNotEmptyException", 400),
    /// ECR: the named image does not exist in the repository.
    ImageNotFound => ("ImageNotFoundException", 400),
    /// ECR: PutImage of an image (and tag) the repository already holds.
    ImageAlreadyExists => ("ImageAlreadyExistsException", 400),
    /// ECR: the tag exists in an IMMUTABLE repository and names another image.
    ImageTagAlreadyExists => ("ImageTagAlreadyExistsException", 400),
    /// ECR: PutImage's imageDigest is not the manifest's digest.
    ImageDigestDoesNotMatch => ("ImageDigestDoesNotMatchException", 400),
    /// ECR: layers an image or request names are not in the repository.
    LayersNotFound => ("LayersNotFoundException", 400),
    /// ECR: images an index names are not in the repository.
    ReferencedImagesNotFound => ("ReferencedImagesNotFoundException", 400),
    /// ECR: the repository has no lifecycle policy.
    LifecyclePolicyNotFound => ("LifecyclePolicyNotFoundException", 400),
    /// The repository has no repository policy.
    RepositoryPolicyNotFound => ("RepositoryPolicyNotFoundException", 400),
    /// ECR: a tag key or value breaks the rules.
    InvalidTagParameter => ("InvalidTagParameterException", 400),
    /// ECR, Logs: a resource would carry more than 50 tags.
    TooManyTags => ("TooManyTagsException", 400),
    /// Logs: a log group or stream of that name exists already.
    ResourceAlreadyExists => ("ResourceAlreadyExistsException", 400),
    /// Logs: another operation on the resource is in progress; retry.
    OperationAborted => ("OperationAbortedException", 400),
    /// Secrets Manager: the call is not valid for the secret's state (it is scheduled
    /// for deletion, or the request combines members that exclude each other).
    InvalidRequest => ("InvalidRequestException", 400),
    /// Secrets Manager: a secret of that name, or a version of that id with other
    /// contents, exists already.
    ResourceExists => ("ResourceExistsException", 400),
    /// Secrets Manager: the pagination token is not one this listing gave.
    InvalidNextTokenException => ("InvalidNextTokenException", 400),
    /// Secrets Manager: the stored value cannot be decrypted with the server's key.
    DecryptionFailure => ("DecryptionFailure", 400),
    /// SSM: the named parameter does not exist.
    ParameterNotFound => ("ParameterNotFound", 400),
    /// SSM: PutParameter of an existing name without `Overwrite`.
    ParameterAlreadyExists => ("ParameterAlreadyExists", 400),
    /// SSM: the parameter has no such version (or label).
    ParameterVersionNotFound => ("ParameterVersionNotFound", 400),
    /// SSM: a parameter version would carry more than 10 labels.
    ParameterVersionLabelLimitExceeded => ("ParameterVersionLabelLimitExceeded", 400),
    /// SSM: a parameter name is nested deeper than 15 levels.
    HierarchyLevelLimitExceeded => ("HierarchyLevelLimitExceededException", 400),
    /// SSM: a parameter type outside String, StringList and SecureString.
    UnsupportedParameterType => ("UnsupportedParameterType", 400),
    /// SSM: a member breaks its constraints (length, pattern, range).
    Validation => ("ValidationException", 400),
    /// SSM: a filter key the operation does not know.
    InvalidFilterKey => ("InvalidFilterKey", 400),
    /// SSM: a filter value breaks its rules.
    InvalidFilterValue => ("InvalidFilterValue", 400),
    /// SSM: the pagination token is not one this listing gave.
    InvalidNextToken => ("InvalidNextToken", 400),
}

/// The JSON body of an AWS JSON 1.1 error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "__type")]
    pub kind: String,
    pub message: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(e: &ApiError) -> Self {
        ErrorBody {
            kind: e.code().to_string(),
            message: e.message().to_string(),
        }
    }
}

/// A failure of the records layer is the server's: the request may be retried.
#[cfg(feature = "store")]
impl From<berth_store::records::RecordError> for ApiError {
    fn from(e: berth_store::records::RecordError) -> Self {
        use berth_store::records::RecordError;
        ApiError::Server(match e {
            RecordError::Store(e) => format!("The store failed: {e}. The request may be retried."),
            RecordError::Corrupt { .. } => e.to_string(),
            RecordError::Contention { what } => {
                format!("{what} was changed concurrently too many times; retry the request.")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_aws_names_statuses_and_messages() {
        let e = ApiError::ClusterNotFound("Cluster not found.".into());
        assert_eq!(e.code(), "ClusterNotFoundException");
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "Cluster not found.");
        let body = serde_json::to_value(ErrorBody::from(&e)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
        );
        assert_eq!(ApiError::InvalidSignature(String::new()).status(), 403);
        assert_eq!(ApiError::Server(String::new()).status(), 500);
    }
}
