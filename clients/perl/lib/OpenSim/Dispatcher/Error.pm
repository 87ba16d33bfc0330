package OpenSim::Dispatcher::Error;

use v5.36;
use overload '""' => \&as_string, fallback => 1;

our $VERSION = '0.1.0';

# kind: 'failed' (the host answered _Success 0), 'unauthorized', 'unknown-type',
# 'transport' (no usable HTTP exchange), 'protocol' (undecodable reply).
sub new ($class, %args) {
    return bless {
        kind         => $args{kind} // 'failed',
        message      => $args{message} // '',
        reply        => $args{reply},
        request_type => $args{request_type} // '',
        status       => $args{status},
    }, $class;
}

sub from_reply ($class, $reply, $request_type) {
    my $message = '';
    for my $key (keys %$reply) {
        $message = $reply->{$key} // '' if lc $key eq '_message';
    }
    my $kind = $message =~ /^Unauthorized invocation;/ ? 'unauthorized'
             : $message =~ /^Unknown message type;/    ? 'unknown-type'
             :                                           'failed';
    return $class->new(kind => $kind, message => $message, reply => $reply, request_type => $request_type);
}

sub kind ($self)         { $self->{kind} }
sub message ($self)      { $self->{message} }
sub reply ($self)        { $self->{reply} }
sub request_type ($self) { $self->{request_type} }
sub status ($self)       { $self->{status} }

sub as_string ($self, @) {
    my $what = $self->{request_type} || 'request';
    return "$what failed: $self->{message}";
}

1;

__END__

=head1 NAME

OpenSim::Dispatcher::Error - the exception thrown by OpenSim::Dispatcher

=head1 SYNOPSIS

    use Scalar::Util qw(blessed);
    eval { $client->get_object_data($id); 1 } or do {
        my $err = $@;
        die $err unless blessed $err && $err->isa('OpenSim::Dispatcher::Error');
        print "host said: ", $err->message, "\n";   # e.g. "no such object"
    };

=head1 METHODS

=over

=item kind

C<failed> (the host replied C<_Success> 0), C<unauthorized> (the message starts
with C<Unauthorized invocation;>), C<unknown-type> (C<Unknown message type;>),
C<transport> (connection refused, timeout, non-200 status) or C<protocol>
(the reply could not be decoded).

=item message

The reply's C<_Message>, exactly as sent, or a description of the transport
problem.

=item reply

The whole decoded reply (a hash reference), when there was one.

=item request_type

The C<$type> of the request that failed.

=item status

The HTTP status for C<transport> errors caused by a non-200 reply.

=back

=cut
