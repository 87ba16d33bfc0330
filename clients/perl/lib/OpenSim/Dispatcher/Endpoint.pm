package OpenSim::Dispatcher::Endpoint;

use v5.36;

use Carp qw(croak);
use IO::Select;
use IO::Socket::INET;
use JSON ();
use Time::HiRes ();

our $VERSION = '0.1.0';

# Requested endpoint lifetime; the host raises it to its MaxInterPingTime.
use constant DEFAULT_LIFESPAN_MS => 10_000;
# Renew three times per lifetime, so one lost renewal does not lose the endpoint.
use constant RENEWALS_PER_LIFESPAN => 3;
# Largest datagram read; callbacks are small JSON documents.
use constant MAX_DATAGRAM_BYTES => 65_535;

my $JSON = JSON->new->utf8;

sub new ($class, %args) {
    my $client = $args{client} // croak 'client is required';
    my $self = bless {
        client      => $client,
        on_touch    => $args{on_touch},
        on_update   => $args{on_update},
        lifespan_ms => $args{lifespan_ms} // DEFAULT_LIFESPAN_MS,
        touches     => [],
        updates     => [],
        endpoint_id => undef,
    }, $class;
    my $host = $args{bind_host} // $client->local_address;
    $self->{socket} = IO::Socket::INET->new(LocalAddr => $host, LocalPort => 0, Proto => 'udp')
        or croak "cannot bind a UDP socket on $host: $!";
    $self->{port} = $self->{socket}->sockport;
    my $reply = $client->create_end_point($host, $self->{port}, life_span => $self->{lifespan_ms});
    $self->{endpoint_id} = $reply->{EndPointID};
    $self->{lifespan_ms} = $reply->{LifeSpan} || $self->{lifespan_ms};
    $self->{renewed_at}  = Time::HiRes::time();
    return $self;
}

sub endpoint_id ($self) { $self->{endpoint_id} }
sub port ($self)        { $self->{port} }

sub watch_touches ($self, $object_id) {
    my $reply = $self->{client}->register_touch_callback($object_id, $self->{endpoint_id});
    push @{ $self->{touches} }, [ $object_id, $reply->{RequestID} ];
    return $reply->{RequestID};
}

sub watch_updates ($self, @object_ids) {
    my $reply = $self->{client}->register_updated_callback([@object_ids], $self->{endpoint_id});
    push @{ $self->{updates} }, [ [@object_ids], $reply->{RequestID} ];
    return $reply->{RequestID};
}

# Decode one datagram; undef for anything that is not a known callback.
sub parse_callback ($data) {
    my $doc = eval { $JSON->decode($data) };
    return undef unless ref $doc eq 'HASH';
    my $type = $doc->{'$type'} // '';
    return { %$doc, kind => 'touch' }  if $type eq 'RemoteControl.Messages.TouchCallback';
    return { %$doc, kind => 'update' } if $type eq 'RemoteControl.Messages.UpdatedCallback';
    return undef;
}

# Wait up to $timeout seconds for one callback; hands it to on_touch/on_update
# and returns it (undef on timeout). Renews the endpoint and the client's
# capability when they are due.
sub poll ($self, $timeout = 0) {
    my $deadline = Time::HiRes::time() + $timeout;
    my $select = IO::Select->new($self->{socket});
    while (1) {
        $self->_renew_if_due;
        my $left = $deadline - Time::HiRes::time();
        my $slice = $self->{lifespan_ms} / 1000 / RENEWALS_PER_LIFESPAN;
        my @ready = $select->can_read($left < 0 ? 0 : $left < $slice ? $left : $slice);
        if (@ready) {
            my $data = '';
            $self->{socket}->recv($data, MAX_DATAGRAM_BYTES) // next;
            my $event = parse_callback($data) // next;
            my $handler = $event->{kind} eq 'touch' ? $self->{on_touch} : $self->{on_update};
            if ($handler) {
                eval { $handler->($event); 1 } or warn "callback handler failed: $@";
            }
            return $event;
        }
        return undef if Time::HiRes::time() >= $deadline;
    }
}

# Handle callbacks for $seconds (forever when undef).
sub run ($self, $seconds = undef) {
    my $end = defined $seconds ? Time::HiRes::time() + $seconds : undef;
    while (!defined $end || Time::HiRes::time() < $end) {
        $self->poll(defined $end ? $end - Time::HiRes::time() : 60);
    }
    return;
}

sub _renew_if_due ($self) {
    $self->{client}->renew_if_due;
    return if Time::HiRes::time() < $self->{renewed_at} + $self->{lifespan_ms} / 1000 / RENEWALS_PER_LIFESPAN;
    $self->{renewed_at} = Time::HiRes::time();
    eval { $self->{client}->renew_end_point($self->{endpoint_id}, life_span => $self->{lifespan_ms}); 1 }
        or warn "endpoint renewal failed: $@";
}

sub close ($self) {
    return unless defined $self->{endpoint_id};
    my $client = $self->{client};
    # Best effort: the object may be gone or the endpoint expired already.
    eval { $client->unregister_touch_callback(@$_); 1 } for @{ $self->{touches} };
    eval { $client->unregister_updated_callback(@$_); 1 } for @{ $self->{updates} };
    eval { $client->close_end_point($self->{endpoint_id}); 1 };
    $self->{endpoint_id} = undef;
    $self->{socket}->close;
    return;
}

sub DESTROY ($self) {
    local ($@, $!, $?);
    $self->close;
}

1;

__END__

=head1 NAME

OpenSim::Dispatcher::Endpoint - receive touch and position callbacks

=head1 SYNOPSIS

    my $endpoint = OpenSim::Dispatcher::Endpoint->new(
        client   => $client,
        on_touch => sub ($event) { say "touched $event->{ObjectID} by $event->{AvatarID}" },
        on_update => sub ($event) { say "$event->{ObjectID} moved to @{ $event->{Position} }" },
    );
    $endpoint->watch_touches($object_id);
    $endpoint->watch_updates(@object_ids);
    $endpoint->run(60);       # or: while (my $e = $endpoint->poll(1)) { ... }
    $endpoint->close;         # unregisters, closes the endpoint

=head1 DESCRIPTION

Binds a UDP socket on the address the host sees the client at, registers it
with C<CreateEndPointRequest> and hands every C<TouchCallback> and
C<UpdatedCallback> datagram to your functions. The event is the decoded
callback (protocol member names) plus C<kind> (C<touch> or C<update>).
While polling it renews the endpoint three times per lifetime and the client's
capability when due.

=head1 METHODS

=over

=item new(client => $client, on_touch => CODE, on_update => CODE, lifespan_ms => N, bind_host => ADDR)

=item watch_touches($object_id)

C<RegisterTouchCallbackRequest>; returns the RequestID.

=item watch_updates(@object_ids)

C<RegisterUpdatedCallbackRequest>; returns the RequestID.

=item poll($timeout_seconds)

Waits for one callback, runs its handler and returns it; undef on timeout.

=item run($seconds)

Polls for C<$seconds> (forever when undef).

=item close

Unregisters everything it registered and closes the endpoint.

=back

=cut
